"""A synthetic England workforce for demo data: pure and deterministic.

``generate(scale, seed, today)`` builds the 7 NHS England regions, the 42 ICBs, about 200 NHS trusts,
20 independent providers with about 150 sites, about ``5000 * scale`` doctors in training and
``500 * scale`` other staff, with their employment histories. The same arguments always give the same
world: all randomness comes from one ``random.Random(seed)`` and the clock is never read.

Regions and ICBs carry their real names and (to our knowledge, 2024) their real ODS codes; check them
against the ODS register before relying on them. Everything else is invented: trust and site codes are
drawn at random in the ODS formats (so a code may coincide with a real organisation's), provider brands
are fictional, and people are random combinations of common names.
"""

import datetime
import math
import random
import string
from functools import cache
from typing import Final, NamedTuple

import msgspec

__all__ = [
    "DEFAULT_TODAY",
    "SynthEmployment",
    "SynthOrganisation",
    "SynthPerson",
    "SynthWorld",
    "generate",
]

DEFAULT_TODAY: Final = datetime.date(2026, 11, 1)


class SynthOrganisation(msgspec.Struct, frozen=True):
    code: str
    name: str
    kind: str  # "region", "icb", "nhs_trust", "independent_provider", "independent_site"
    parent_code: str | None  # region for an ICB; ICB for a trust or a site; None otherwise
    postcode: str | None
    latitude: float | None
    longitude: float | None
    provider_code: str | None = None  # the independent provider that runs a site; sites only


class SynthPerson(msgspec.Struct, frozen=True):
    key: str
    given_name: str
    family_name: str
    gmc_number: str | None
    staff_group: str  # "medical", "nursing", "allied_health", "other"
    grade: str  # FY1 .. ST8 for doctors, "other" for everybody else
    specialty: str | None


class SynthEmployment(msgspec.Struct, frozen=True):
    person_key: str
    organisation_code: str
    role: str
    staff_group: str
    specialty: str | None
    start: datetime.date
    end: datetime.date | None
    contracted_sessions: int  # sessions per week, 1..10


class SynthWorld(msgspec.Struct, frozen=True):
    organisations: list[SynthOrganisation]
    people: list[SynthPerson]
    employments: list[SynthEmployment]


# --------------------------------------------------------------------------------------------------
# Geography: regions, ICBs and the towns in each ICB (real approximate centres, real postcode districts)


class _Town(NamedTuple):
    name: str
    districts: tuple[str, ...]
    lat: float
    lon: float
    radius_km: float  # how far from the centre organisations may be placed


class _Icb(NamedTuple):
    code: str
    name: str
    region: str
    towns: tuple[_Town, ...]


def _t(name: str, districts: str, lat: float, lon: float, radius_km: float = 5.0) -> _Town:
    return _Town(name, tuple(districts.split()), lat, lon, radius_km)


_REGIONS: Final = (
    ("Y56", "London"),
    ("Y59", "South East"),
    ("Y58", "South West"),
    ("Y61", "East of England"),
    ("Y60", "Midlands"),
    ("Y62", "North West"),
    ("Y63", "North East and Yorkshire"),
)

_ICBS: Final = (
    _Icb(
        "QHM",
        "NHS North East and North Cumbria ICB",
        "Y63",
        (
            _t("Newcastle upon Tyne", "NE1 NE2 NE4 NE7", 54.978, -1.617),
            _t("Sunderland", "SR1 SR2 SR4", 54.906, -1.383),
            _t("Middlesbrough", "TS1 TS4 TS5", 54.574, -1.235),
            _t("Durham", "DH1", 54.776, -1.575),
            _t("Carlisle", "CA1 CA2 CA3", 54.892, -2.932),
            _t("Gateshead", "NE8 NE9 NE10", 54.952, -1.603),
            _t("Darlington", "DL1 DL3", 54.523, -1.559),
            _t("Cramlington", "NE23", 55.086, -1.585),
            _t("Hartlepool", "TS24 TS25 TS26", 54.691, -1.212),
            _t("South Shields", "NE33 NE34", 54.999, -1.433),
        ),
    ),
    _Icb(
        "QOQ",
        "NHS Humber and North Yorkshire ICB",
        "Y63",
        (
            _t("Hull", "HU1 HU3 HU5 HU8", 53.745, -0.336),
            _t("York", "YO1 YO10 YO24 YO31", 53.960, -1.080),
            _t("Scarborough", "YO11 YO12", 54.283, -0.399),
            _t("Harrogate", "HG1 HG2", 53.992, -1.541),
            _t("Grimsby", "DN31 DN32 DN33", 53.567, -0.080),
            _t("Scunthorpe", "DN15 DN16 DN17", 53.588, -0.654),
            _t("Northallerton", "DL6 DL7", 54.339, -1.434),
        ),
    ),
    _Icb(
        "QF7",
        "NHS South Yorkshire ICB",
        "Y63",
        (
            _t("Sheffield", "S1 S5 S10 S11", 53.381, -1.470),
            _t("Rotherham", "S60 S65", 53.430, -1.357),
            _t("Doncaster", "DN1 DN2 DN4", 53.523, -1.133),
            _t("Barnsley", "S70 S71 S75", 53.553, -1.480),
        ),
    ),
    _Icb(
        "QWO",
        "NHS West Yorkshire ICB",
        "Y63",
        (
            _t("Leeds", "LS1 LS2 LS7 LS9", 53.800, -1.549),
            _t("Bradford", "BD1 BD5 BD9", 53.795, -1.759),
            _t("Wakefield", "WF1 WF2", 53.683, -1.499),
            _t("Huddersfield", "HD1 HD3", 53.646, -1.785),
            _t("Halifax", "HX1 HX3", 53.722, -1.860),
            _t("Dewsbury", "WF12 WF13", 53.690, -1.633),
            _t("Keighley", "BD20 BD21", 53.867, -1.906),
        ),
    ),
    _Icb(
        "QYG",
        "NHS Cheshire and Merseyside ICB",
        "Y62",
        (
            _t("Liverpool", "L1 L3 L7 L9", 53.408, -2.991),
            _t("Warrington", "WA1 WA2 WA5", 53.390, -2.597),
            _t("Chester", "CH1 CH2 CH4", 53.190, -2.891),
            _t("Birkenhead", "CH41 CH42 CH43", 53.390, -3.020),
            _t("St Helens", "WA9 WA10", 53.453, -2.737),
            _t("Crewe", "CW1 CW2", 53.098, -2.440),
            _t("Southport", "PR8 PR9", 53.647, -3.006),
            _t("Macclesfield", "SK10 SK11", 53.260, -2.127),
        ),
    ),
    _Icb(
        "QOP",
        "NHS Greater Manchester ICB",
        "Y62",
        (
            _t("Manchester", "M1 M13 M20 M23", 53.480, -2.242),
            _t("Salford", "M5 M6", 53.488, -2.290),
            _t("Bolton", "BL1 BL3 BL4", 53.578, -2.430),
            _t("Wigan", "WN1 WN6", 53.545, -2.632),
            _t("Stockport", "SK1 SK2 SK3", 53.408, -2.149),
            _t("Oldham", "OL1 OL4 OL8", 53.541, -2.112),
            _t("Bury", "BL8 BL9", 53.593, -2.298),
            _t("Tameside", "OL6 OL7", 53.490, -2.098),
        ),
    ),
    _Icb(
        "QE1",
        "NHS Lancashire and South Cumbria ICB",
        "Y62",
        (
            _t("Preston", "PR1 PR2", 53.763, -2.703),
            _t("Blackpool", "FY1 FY3 FY4", 53.817, -3.035),
            _t("Lancaster", "LA1", 54.047, -2.801),
            _t("Blackburn", "BB1 BB2", 53.748, -2.482),
            _t("Burnley", "BB10 BB11", 53.789, -2.240),
            _t("Barrow-in-Furness", "LA13 LA14", 54.111, -3.227),
            _t("Kendal", "LA9", 54.328, -2.746),
        ),
    ),
    _Icb(
        "QHL",
        "NHS Birmingham and Solihull ICB",
        "Y60",
        (
            _t("Birmingham", "B1 B9 B15 B29", 52.480, -1.903),
            _t("Solihull", "B90 B91", 52.412, -1.778),
            _t("Sutton Coldfield", "B72 B75", 52.563, -1.822),
        ),
    ),
    _Icb(
        "QUA",
        "NHS Black Country ICB",
        "Y60",
        (
            _t("Wolverhampton", "WV1 WV6 WV10", 52.586, -2.129),
            _t("Dudley", "DY1 DY2", 52.512, -2.081),
            _t("Walsall", "WS1 WS2", 52.586, -1.982),
            _t("West Bromwich", "B70 B71", 52.518, -1.995),
        ),
    ),
    _Icb(
        "QWU",
        "NHS Coventry and Warwickshire ICB",
        "Y60",
        (
            _t("Coventry", "CV1 CV2 CV3", 52.407, -1.510),
            _t("Warwick", "CV34", 52.282, -1.585),
            _t("Nuneaton", "CV10 CV11", 52.523, -1.468),
            _t("Rugby", "CV21 CV22", 52.370, -1.265),
        ),
    ),
    _Icb(
        "QJ2",
        "NHS Derby and Derbyshire ICB",
        "Y60",
        (
            _t("Derby", "DE1 DE22 DE23", 52.921, -1.476),
            _t("Chesterfield", "S40 S41", 53.235, -1.421),
            _t("Buxton", "SK17", 53.259, -1.911),
            _t("Ilkeston", "DE7", 52.970, -1.310),
        ),
    ),
    _Icb(
        "QGH",
        "NHS Herefordshire and Worcestershire ICB",
        "Y60",
        (
            _t("Worcester", "WR1 WR5", 52.192, -2.220),
            _t("Hereford", "HR1 HR2", 52.056, -2.716),
            _t("Redditch", "B97 B98", 52.306, -1.945),
            _t("Kidderminster", "DY10 DY11", 52.388, -2.250),
        ),
    ),
    _Icb(
        "QK1",
        "NHS Leicester, Leicestershire and Rutland ICB",
        "Y60",
        (
            _t("Leicester", "LE1 LE2 LE3 LE5", 52.637, -1.135),
            _t("Loughborough", "LE11", 52.772, -1.206),
            _t("Oakham", "LE15", 52.670, -0.728),
            _t("Hinckley", "LE10", 52.539, -1.373),
        ),
    ),
    _Icb(
        "QJM",
        "NHS Lincolnshire ICB",
        "Y60",
        (
            _t("Lincoln", "LN1 LN2 LN6", 53.234, -0.538),
            _t("Boston", "PE21", 52.978, -0.026),
            _t("Grantham", "NG31", 52.912, -0.642),
            _t("Skegness", "PE25", 53.144, 0.336),
            _t("Louth", "LN11", 53.366, -0.006),
        ),
    ),
    _Icb(
        "QPM",
        "NHS Northamptonshire ICB",
        "Y60",
        (
            _t("Northampton", "NN1 NN3 NN5", 52.240, -0.903),
            _t("Kettering", "NN15 NN16", 52.398, -0.728),
            _t("Corby", "NN17 NN18", 52.488, -0.701),
            _t("Wellingborough", "NN8", 52.302, -0.694),
        ),
    ),
    _Icb(
        "QT1",
        "NHS Nottingham and Nottinghamshire ICB",
        "Y60",
        (
            _t("Nottingham", "NG1 NG5 NG7", 52.954, -1.158),
            _t("Mansfield", "NG18 NG19", 53.143, -1.197),
            _t("Newark", "NG24", 53.076, -0.809),
            _t("Worksop", "S80 S81", 53.301, -1.124),
        ),
    ),
    _Icb(
        "QOC",
        "NHS Shropshire, Telford and Wrekin ICB",
        "Y60",
        (
            _t("Shrewsbury", "SY1 SY2 SY3", 52.708, -2.754),
            _t("Telford", "TF1 TF3 TF7", 52.678, -2.445),
            _t("Oswestry", "SY10 SY11", 52.860, -3.055),
        ),
    ),
    _Icb(
        "QNC",
        "NHS Staffordshire and Stoke-on-Trent ICB",
        "Y60",
        (
            _t("Stoke-on-Trent", "ST1 ST4 ST6", 53.003, -2.179),
            _t("Stafford", "ST16 ST17", 52.806, -2.120),
            _t("Burton upon Trent", "DE13 DE14", 52.807, -1.642),
            _t("Tamworth", "B77 B79", 52.633, -1.695),
            _t("Cannock", "WS11 WS12", 52.691, -2.030),
        ),
    ),
    _Icb(
        "QHG",
        "NHS Bedfordshire, Luton and Milton Keynes ICB",
        "Y61",
        (
            _t("Bedford", "MK40 MK41 MK42", 52.136, -0.467),
            _t("Luton", "LU1 LU2 LU4", 51.879, -0.417),
            _t("Milton Keynes", "MK6 MK9 MK10", 52.040, -0.759),
            _t("Dunstable", "LU5 LU6", 51.886, -0.521),
        ),
    ),
    _Icb(
        "QUE",
        "NHS Cambridgeshire and Peterborough ICB",
        "Y61",
        (
            _t("Cambridge", "CB1 CB2 CB4", 52.205, 0.119),
            _t("Peterborough", "PE1 PE3 PE4", 52.573, -0.241),
            _t("Huntingdon", "PE29", 52.331, -0.183),
            _t("Ely", "CB6 CB7", 52.399, 0.262),
            _t("Wisbech", "PE13", 52.666, 0.159),
        ),
    ),
    _Icb(
        "QM7",
        "NHS Hertfordshire and West Essex ICB",
        "Y61",
        (
            _t("Watford", "WD17 WD18 WD24", 51.656, -0.390),
            _t("Stevenage", "SG1 SG2", 51.903, -0.196),
            _t("Harlow", "CM17 CM18 CM20", 51.768, 0.088),
            _t("St Albans", "AL1 AL3", 51.752, -0.336),
            _t("Hemel Hempstead", "HP1 HP2 HP3", 51.753, -0.448),
            _t("Welwyn Garden City", "AL7 AL8", 51.801, -0.204),
        ),
    ),
    _Icb(
        "QH8",
        "NHS Mid and South Essex ICB",
        "Y61",
        (
            _t("Chelmsford", "CM1 CM2", 51.736, 0.479),
            _t("Southend-on-Sea", "SS0 SS1 SS2", 51.538, 0.714),
            _t("Basildon", "SS13 SS14 SS16", 51.576, 0.488),
            _t("Braintree", "CM7", 51.878, 0.553),
            _t("Grays", "RM16 RM17 RM20", 51.476, 0.324),
        ),
    ),
    _Icb(
        "QMM",
        "NHS Norfolk and Waveney ICB",
        "Y61",
        (
            _t("Norwich", "NR1 NR2 NR4", 52.630, 1.297),
            _t("King's Lynn", "PE30", 52.754, 0.398),
            _t("Great Yarmouth", "NR30 NR31", 52.608, 1.730, 2.0),  # small radii: the coast is close east
            _t("Lowestoft", "NR32 NR33", 52.475, 1.740, 2.0),
            _t("Cromer", "NR27", 52.931, 1.301),
        ),
    ),
    _Icb(
        "QJG",
        "NHS Suffolk and North East Essex ICB",
        "Y61",
        (
            _t("Ipswich", "IP1 IP3 IP4", 52.056, 1.155),
            _t("Colchester", "CO1 CO3 CO4", 51.889, 0.903),
            _t("Bury St Edmunds", "IP32 IP33", 52.246, 0.711),
            _t("Clacton-on-Sea", "CO15 CO16", 51.790, 1.156),
        ),
    ),
    _Icb(
        "QMJ",
        "NHS North Central London ICB",
        "Y56",
        (
            _t("Camden", "NW1 NW5", 51.539, -0.143),
            _t("Islington", "N1 N7 N19", 51.538, -0.103),
            _t("Hampstead", "NW3", 51.556, -0.178),
            _t("Barnet", "EN4 EN5 N20", 51.653, -0.200),
            _t("Enfield", "EN1 EN2 EN3", 51.652, -0.081),
            _t("Tottenham", "N15 N17", 51.588, -0.072),
        ),
    ),
    _Icb(
        "QMF",
        "NHS North East London ICB",
        "Y56",
        (
            _t("Whitechapel", "E1", 51.519, -0.059),
            _t("Stratford", "E15 E20", 51.541, -0.003),
            _t("Romford", "RM1 RM7", 51.575, 0.183),
            _t("Ilford", "IG1 IG2 IG3", 51.559, 0.082),
            _t("Hackney", "E8 E9", 51.545, -0.055),
            _t("Barking", "IG11", 51.536, 0.081),
        ),
    ),
    _Icb(
        "QRV",
        "NHS North West London ICB",
        "Y56",
        (
            _t("Paddington", "W2", 51.517, -0.176),
            _t("Hammersmith", "W6 W12", 51.492, -0.223),
            _t("Harrow", "HA1 HA2 HA3", 51.580, -0.334),
            _t("Uxbridge", "UB8 UB10", 51.546, -0.479),
            _t("Ealing", "W5 W13", 51.513, -0.305),
            _t("Chelsea", "SW3 SW10", 51.487, -0.169),
            _t("Hounslow", "TW3 TW4", 51.468, -0.361),
            _t("Wembley", "HA0 HA9", 51.552, -0.296),
        ),
    ),
    _Icb(
        "QKK",
        "NHS South East London ICB",
        "Y56",
        (
            _t("Lambeth", "SE1 SE11", 51.496, -0.117),
            _t("Camberwell", "SE5", 51.474, -0.093),
            _t("Lewisham", "SE13", 51.461, -0.010),
            _t("Woolwich", "SE18", 51.490, 0.064),
            _t("Bromley", "BR1 BR2", 51.406, 0.014),
            _t("Sidcup", "DA14 DA15", 51.426, 0.103),
        ),
    ),
    _Icb(
        "QWE",
        "NHS South West London ICB",
        "Y56",
        (
            _t("Tooting", "SW17", 51.427, -0.168),
            _t("Kingston upon Thames", "KT1 KT2", 51.412, -0.300),
            _t("Croydon", "CR0 CR7", 51.376, -0.098),
            _t("Sutton", "SM1 SM2", 51.361, -0.194),
            _t("Wimbledon", "SW19", 51.421, -0.206),
            _t("Richmond", "TW9 TW10", 51.461, -0.303),
        ),
    ),
    _Icb(
        "QU9",
        "NHS Buckinghamshire, Oxfordshire and Berkshire West ICB",
        "Y59",
        (
            _t("Oxford", "OX1 OX3 OX4", 51.752, -1.258),
            _t("Reading", "RG1 RG2 RG30", 51.454, -0.978),
            _t("Aylesbury", "HP19 HP21", 51.816, -0.812),
            _t("High Wycombe", "HP11 HP13", 51.628, -0.748),
            _t("Banbury", "OX16", 52.062, -1.340),
            _t("Newbury", "RG14", 51.401, -1.323),
        ),
    ),
    _Icb(
        "QNQ",
        "NHS Frimley ICB",
        "Y59",
        (
            _t("Frimley", "GU16", 51.315, -0.742),
            _t("Slough", "SL1 SL2", 51.510, -0.595),
            _t("Farnham", "GU9", 51.215, -0.799),
            _t("Aldershot", "GU11 GU12", 51.248, -0.763),
            _t("Bracknell", "RG12 RG42", 51.416, -0.750),
            _t("Maidenhead", "SL6", 51.522, -0.719),
        ),
    ),
    _Icb(
        "QRL",
        "NHS Hampshire and Isle of Wight ICB",
        "Y59",
        (
            _t("Southampton", "SO14 SO15 SO16", 50.909, -1.404),
            _t("Portsmouth", "PO1 PO3 PO6", 50.800, -1.091),
            _t("Winchester", "SO22 SO23", 51.063, -1.308),
            _t("Basingstoke", "RG21 RG24", 51.266, -1.087),
            _t("Isle of Wight", "PO30", 50.701, -1.292),
            _t("Andover", "SP10", 51.211, -1.492),
        ),
    ),
    _Icb(
        "QKS",
        "NHS Kent and Medway ICB",
        "Y59",
        (
            _t("Maidstone", "ME14 ME15 ME16", 51.272, 0.529),
            _t("Canterbury", "CT1 CT2", 51.280, 1.079),
            _t("Ashford", "TN23 TN24", 51.146, 0.875),
            _t("Margate", "CT9", 51.389, 1.386),
            _t("Dartford", "DA1 DA2", 51.446, 0.219),
            _t("Gillingham", "ME7 ME8", 51.389, 0.549),
            _t("Tunbridge Wells", "TN1 TN2 TN4", 51.132, 0.263),
            _t("Dover", "CT16 CT17", 51.126, 1.313),
        ),
    ),
    _Icb(
        "QNX",
        "NHS Sussex ICB",
        "Y59",
        (
            _t("Brighton", "BN1 BN2", 50.822, -0.137),
            _t("Worthing", "BN11 BN13 BN14", 50.817, -0.372),
            _t("Chichester", "PO19", 50.837, -0.780),
            _t("Eastbourne", "BN21 BN22", 50.768, 0.290),
            _t("Hastings", "TN34 TN35", 50.855, 0.573),
            _t("Haywards Heath", "RH16", 51.000, -0.101),
            _t("Crawley", "RH10 RH11", 51.109, -0.187),
        ),
    ),
    _Icb(
        "QXU",
        "NHS Surrey Heartlands ICB",
        "Y59",
        (
            _t("Guildford", "GU1 GU2", 51.236, -0.570),
            _t("Redhill", "RH1", 51.240, -0.170),
            _t("Chertsey", "KT16", 51.390, -0.500),
            _t("Woking", "GU21 GU22", 51.319, -0.558),
            _t("Epsom", "KT17 KT18 KT19", 51.336, -0.267),
        ),
    ),
    _Icb(
        "QOX",
        "NHS Bath and North East Somerset, Swindon and Wiltshire ICB",
        "Y58",
        (
            _t("Bath", "BA1 BA2", 51.381, -2.359),
            _t("Swindon", "SN1 SN3 SN25", 51.558, -1.781),
            _t("Salisbury", "SP1 SP2", 51.069, -1.794),
            _t("Chippenham", "SN14 SN15", 51.458, -2.116),
            _t("Trowbridge", "BA14", 51.318, -2.208),
        ),
    ),
    _Icb(
        "QUY",
        "NHS Bristol, North Somerset and South Gloucestershire ICB",
        "Y58",
        (
            _t("Bristol", "BS1 BS2 BS8 BS10", 51.454, -2.588),
            _t("Weston-super-Mare", "BS22 BS23", 51.346, -2.977),
            _t("Filton", "BS34", 51.508, -2.577),
            _t("Clevedon", "BS21", 51.439, -2.854),
        ),
    ),
    _Icb(
        "QT6",
        "NHS Cornwall and the Isles of Scilly ICB",
        "Y58",
        (
            _t("Truro", "TR1", 50.263, -5.051),
            _t("Penzance", "TR18", 50.118, -5.537),
            _t("Bodmin", "PL31", 50.470, -4.718),
            _t("Camborne", "TR14", 50.213, -5.300),
            _t("St Austell", "PL25 PL26", 50.340, -4.790),
        ),
    ),
    _Icb(
        "QJK",
        "NHS Devon ICB",
        "Y58",
        (
            _t("Exeter", "EX1 EX2 EX4", 50.718, -3.534),
            _t("Plymouth", "PL1 PL4 PL6", 50.376, -4.143),
            _t("Torquay", "TQ1 TQ2", 50.464, -3.525),
            _t("Barnstaple", "EX31 EX32", 51.080, -4.058),
            _t("Newton Abbot", "TQ12", 50.529, -3.611),
        ),
    ),
    _Icb(
        "QVV",
        "NHS Dorset ICB",
        "Y58",
        (
            _t("Bournemouth", "BH1 BH7 BH8", 50.720, -1.880),
            _t("Poole", "BH14 BH15", 50.715, -1.987),
            _t("Dorchester", "DT1", 50.715, -2.437),
            _t("Weymouth", "DT3 DT4", 50.614, -2.457),
        ),
    ),
    _Icb(
        "QR1",
        "NHS Gloucestershire ICB",
        "Y58",
        (
            _t("Gloucester", "GL1 GL2 GL4", 51.865, -2.238),
            _t("Cheltenham", "GL50 GL51 GL53", 51.900, -2.078),
            _t("Stroud", "GL5", 51.745, -2.217),
            _t("Cirencester", "GL7", 51.719, -1.968),
        ),
    ),
    _Icb(
        "QSL",
        "NHS Somerset ICB",
        "Y58",
        (
            _t("Taunton", "TA1 TA2", 51.015, -3.106),
            _t("Yeovil", "BA20 BA21", 50.942, -2.633),
            _t("Bridgwater", "TA6", 51.128, -3.003),
            _t("Minehead", "TA24", 51.204, -3.478),
            _t("Wells", "BA5", 51.209, -2.647),
        ),
    ),
)

# --------------------------------------------------------------------------------------------------
# Organisations that are invented


class _Provider(NamedTuple):
    brand: str
    name: str
    site_word: str  # "<brand> <town> <site_word>", e.g. "Meridian Leeds Hospital"
    specialties: tuple[str, ...]  # which trainees it can host
    weight: int  # relative number of sites


_SURGICAL: Final = (
    "trauma_and_orthopaedics",
    "general_surgery",
    "urology",
    "ent",
    "ophthalmology",
    "obstetrics_and_gynaecology",
    "anaesthetics",
    "plastic_surgery",
    "oral_and_maxillofacial_surgery",
)
_EYES: Final = ("ophthalmology",)
_JOINTS: Final = ("trauma_and_orthopaedics", "anaesthetics")

# Fictional brands: any likeness to a real provider is accidental.
_PROVIDERS: Final = (
    _Provider("Meridian", "Meridian Healthcare Limited", "Hospital", _SURGICAL, 16),
    _Provider("Harbourside", "Harbourside Health Group Limited", "Hospital", _SURGICAL, 14),
    _Provider("Clearview", "Clearview Eye Care Limited", "Eye Centre", _EYES, 14),
    _Provider("Oakridge", "Oakridge Hospitals Limited", "Hospital", _SURGICAL, 12),
    _Provider("Beaconfield", "Beaconfield Independent Healthcare Limited", "Treatment Centre", _SURGICAL, 10),
    _Provider("Brightsight", "Brightsight Ophthalmology Limited", "Eye Clinic", _EYES, 10),
    _Provider("Northgate", "Northgate Surgical Limited", "Treatment Centre", _SURGICAL, 8),
    _Provider("Heathfield", "Heathfield Health Limited", "Hospital", _SURGICAL, 8),
    _Provider("Kingsmead", "Kingsmead Healthcare Limited", "Hospital", _SURGICAL, 6),
    _Provider("Summit", "Summit Orthopaedics Limited", "Orthopaedic Centre", _JOINTS, 6),
    _Provider("Lakeside", "Lakeside Day Surgery Limited", "Day Surgery Centre", _SURGICAL, 6),
    _Provider("Evergreen", "Evergreen Medical Limited", "Hospital", _SURGICAL, 5),
    _Provider("Sterling", "Sterling Vision Limited", "Eye Centre", _EYES, 5),
    _Provider("Willowbrook", "Willowbrook Healthcare Limited", "Hospital", _SURGICAL, 4),
    _Provider("Ashcombe", "Ashcombe Surgical Partners LLP", "Surgical Centre", _SURGICAL, 4),
    _Provider("Cedarwood", "Cedarwood Health Limited", "Hospital", _SURGICAL, 4),
    _Provider("Pinnacle", "Pinnacle Joint Care LLP", "Orthopaedic Hospital", _JOINTS, 3),
    _Provider("Greystone", "Greystone Clinics Limited", "Clinic", _SURGICAL, 3),
    _Provider("Foxhollow", "Foxhollow Healthcare Limited", "Hospital", _SURGICAL, 2),
    _Provider("Valewood", "Valewood Eye Surgeons LLP", "Eye Hospital", _EYES, 2),
)

_TRUST_COUNT: Final = 200
_SITE_COUNT: Final = 150
_ACUTE_NAMES: Final = (
    "{town} Hospitals NHS Foundation Trust",
    "{town} Teaching Hospitals NHS Foundation Trust",
    "University Hospitals of {town} NHS Trust",
    "{town} and District NHS Foundation Trust",
    "{town} General Hospital NHS Trust",
)
_MENTAL_HEALTH_NAMES: Final = (
    "{town} Mental Health NHS Foundation Trust",
    "{town} Community Healthcare NHS Trust",
    "{town} Care Partnership NHS Foundation Trust",
)
_ALNUM: Final = string.ascii_uppercase + string.digits
_PAIRS: Final = tuple(a + b for a in _ALNUM for b in _ALNUM)
_INWARD_LETTERS: Final = "ABDEFGHJLNPQRSTUWXYZ"  # the letters used in the inward half of a postcode

# --------------------------------------------------------------------------------------------------
# People

_GRADES: Final = ("FY1", "FY2", "CT1", "CT2", "CT3", "ST3", "ST4", "ST5", "ST6", "ST7", "ST8")
_GRADE_WEIGHTS: Final = (15, 14, 11, 10, 4, 9, 9, 8, 8, 7, 5)
_FIRST_ST: Final = 5  # index of ST3 in _GRADES
_DOCTORS_PER_SCALE: Final = 5000
_OTHERS_PER_SCALE: Final = 500
_GMC_RANGE: Final = range(4_000_000, 8_000_000)

# (specialty, weight, index in _GRADES of its final training grade)
_SPECIALTIES: Final = (
    ("general_medicine", 16, 9),
    ("anaesthetics", 10, 9),
    ("emergency_medicine", 8, 8),
    ("general_surgery", 8, 10),
    ("trauma_and_orthopaedics", 7, 10),
    ("paediatrics", 8, 10),
    ("obstetrics_and_gynaecology", 7, 9),
    ("psychiatry", 8, 8),
    ("radiology", 5, 9),
    ("ophthalmology", 4, 9),
    ("urology", 3, 10),
    ("ent", 3, 10),
    ("cardiology", 4, 9),
    ("geriatric_medicine", 4, 9),
    ("plastic_surgery", 2, 10),
    ("vascular_surgery", 1, 10),
    ("neurosurgery", 1, 10),
    ("oral_and_maxillofacial_surgery", 1, 10),
)
_FOUNDATION_POSTS: Final = (
    "general_medicine",
    "general_medicine",
    "general_surgery",
    "emergency_medicine",
    "geriatric_medicine",
    "paediatrics",
    "psychiatry",
    "trauma_and_orthopaedics",
    "obstetrics_and_gynaecology",
    "anaesthetics",
    "urology",
    "ent",
)
_OTHER_ROLES: Final = {
    "nursing": ("Staff nurse", "Staff nurse", "Theatre nurse", "Ward sister", "Advanced nurse practitioner"),
    "allied_health": (
        "Physiotherapist",
        "Occupational therapist",
        "Operating department practitioner",
        "Diagnostic radiographer",
        "Orthoptist",
    ),
    "other": ("Healthcare assistant", "Theatre support worker", "Medical secretary", "Pharmacy technician"),
}
_OTHER_GROUPS: Final = ("nursing", "allied_health", "other")
_OTHER_GROUP_WEIGHTS: Final = (60, 25, 15)

_GIVEN_NAMES: Final = (
    "Oliver",
    "Amelia",
    "George",
    "Olivia",
    "Harry",
    "Isla",
    "Jack",
    "Emily",
    "Mohammed",
    "Aisha",
    "Muhammad",
    "Fatima",
    "Priya",
    "Rahul",
    "Arjun",
    "Ananya",
    "Sanjay",
    "Deepa",
    "Vikram",
    "Kavya",
    "Chidi",
    "Ngozi",
    "Oluwaseun",
    "Adaeze",
    "Kwame",
    "Ama",
    "Tunde",
    "Folake",
    "Wei",
    "Mei",
    "Jun",
    "Hiroshi",
    "Yuki",
    "Minh",
    "Linh",
    "Kasia",
    "Piotr",
    "Agnieszka",
    "Tomasz",
    "Ioana",
    "Andrei",
    "Elena",
    "Dimitri",
    "Sofia",
    "Mateo",
    "Lucia",
    "Diego",
    "Ines",
    "Joao",
    "Siobhan",
    "Ciaran",
    "Niamh",
    "Eilidh",
    "Rhys",
    "Carys",
    "Omar",
    "Layla",
    "Yusuf",
    "Zainab",
    "Hassan",
    "Mariam",
    "Ahmed",
    "Noor",
    "Leila",
    "Reza",
    "Sara",
    "Daniel",
    "Hannah",
    "Samuel",
    "Grace",
    "Thomas",
    "Charlotte",
    "James",
    "Sophie",
    "William",
    "Chloe",
    "Benjamin",
    "Ruth",
    "Emeka",
    "Chiamaka",
    "Ravi",
    "Harpreet",
    "Gurpreet",
    "Manpreet",
    "Simran",
    "Ayesha",
    "Bilal",
    "Hamza",
    "Sana",
    "Imran",
    "Nadia",
    "Tariq",
    "Kofi",
    "Abena",
    "Anjali",
    "Nikhil",
    "Meera",
    "Rohan",
    "Lucy",
    "Matthew",
    "Rebecca",
    "Alexander",
    "Eleanor",
    "Joseph",
    "Freya",
    "Michael",
    "Alice",
    "David",
    "Rachel",
    "Ethan",
    "Jessica",
)
_FAMILY_NAMES: Final = (
    "Smith",
    "Jones",
    "Williams",
    "Taylor",
    "Brown",
    "Davies",
    "Evans",
    "Wilson",
    "Thomas",
    "Johnson",
    "Roberts",
    "Robinson",
    "Thompson",
    "Wright",
    "Walker",
    "White",
    "Edwards",
    "Hughes",
    "Green",
    "Hall",
    "Wood",
    "Harris",
    "Lewis",
    "Martin",
    "Jackson",
    "Clarke",
    "Patel",
    "Shah",
    "Khan",
    "Ahmed",
    "Ali",
    "Hussain",
    "Begum",
    "Rahman",
    "Islam",
    "Chowdhury",
    "Iqbal",
    "Malik",
    "Akhtar",
    "Sharma",
    "Singh",
    "Kaur",
    "Gupta",
    "Kumar",
    "Reddy",
    "Nair",
    "Menon",
    "Iyer",
    "Desai",
    "Joshi",
    "Okafor",
    "Okonkwo",
    "Adeyemi",
    "Oyelaran",
    "Mensah",
    "Owusu",
    "Boateng",
    "Nwosu",
    "Eze",
    "Balogun",
    "Chen",
    "Wang",
    "Li",
    "Zhang",
    "Liu",
    "Nguyen",
    "Tran",
    "Kim",
    "Park",
    "Tanaka",
    "Nowak",
    "Kowalski",
    "Wisniewski",
    "Popescu",
    "Ionescu",
    "Papadopoulos",
    "Rossi",
    "Russo",
    "Garcia",
    "Rodriguez",
    "Fernandes",
    "Silva",
    "Santos",
    "O'Brien",
    "Murphy",
    "Kelly",
    "Byrne",
    "MacDonald",
    "Campbell",
    "Stewart",
    "Morgan",
    "Pritchard",
    "Hassan",
    "Haddad",
    "Mansour",
    "Farouk",
    "Yilmaz",
    "Demir",
    "Kaya",
    "Cohen",
    "Levy",
    "Mendes",
    "Costa",
    "Osei",
    "Abubakar",
    "Ogunleye",
)


# --------------------------------------------------------------------------------------------------
# Dates: rotations change over on the first Wednesday of February and of August. Changeover number
# 2 * year is February of that year, 2 * year + 1 is August.


@cache
def _changeover(index: int) -> datetime.date:
    year, half = divmod(index, 2)
    first = datetime.date(year, 8 if half else 2, 1)
    return first + datetime.timedelta(days=(2 - first.weekday()) % 7)


def _changeover_at_or_before(day: datetime.date) -> int:
    index = 2 * day.year + 1
    while _changeover(index) > day:
        index -= 1
    return index


_DAY: Final = datetime.timedelta(days=1)


# --------------------------------------------------------------------------------------------------
# Building


def _jitter(rng: random.Random, town: _Town) -> tuple[float, float]:
    """A point uniformly distributed within the town's radius of its centre."""
    distance = town.radius_km * math.sqrt(rng.random())
    bearing = 2 * math.pi * rng.random()
    lat = town.lat + distance * math.cos(bearing) / 111.2
    lon = town.lon + distance * math.sin(bearing) / (111.32 * math.cos(math.radians(town.lat)))
    return round(lat, 5), round(lon, 5)


def _postcode(rng: random.Random, town: _Town) -> str:
    letters = rng.choice(_INWARD_LETTERS) + rng.choice(_INWARD_LETTERS)
    return f"{rng.choice(town.districts)} {rng.randrange(10)}{letters}"


def _trust_slots() -> list[tuple[_Icb, _Town, bool]]:
    """Where the trusts are: an acute trust and a mental health trust in each ICB's main town, then
    acute trusts in further towns, largest ICBs first, up to _TRUST_COUNT. The bool means acute."""
    slots = [(icb, icb.towns[0], True) for icb in _ICBS]
    slots += [(icb, icb.towns[0], False) for icb in _ICBS]
    by_size = sorted(_ICBS, key=lambda icb: -len(icb.towns))
    for depth in range(1, max(len(icb.towns) for icb in _ICBS)):
        slots += [(icb, icb.towns[depth], True) for icb in by_size if depth < len(icb.towns)]
    return slots[:_TRUST_COUNT]


class _Organisations:
    """The organisations, and the lookups that placing people needs."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.items: list[SynthOrganisation] = []
        self.acute: dict[str, list[str]] = {region: [] for region, _ in _REGIONS}
        self.mental_health: dict[str, list[str]] = {region: [] for region, _ in _REGIONS}
        self.sites: dict[tuple[str, str], list[str]] = {}  # (region, specialty) -> site codes
        self.all_sites: list[str] = []
        self._add_regions_and_icbs()
        self._add_trusts()
        self._add_independent_sector()

    def _add(
        self,
        code: str,
        name: str,
        kind: str,
        parent: str | None,
        town: _Town | None,
        provider: str | None = None,
    ) -> None:
        postcode = lat = lon = None
        if town is not None:
            postcode = _postcode(self.rng, town)
            lat, lon = _jitter(self.rng, town)
        self.items.append(
            SynthOrganisation(
                code=code,
                name=name,
                kind=kind,
                parent_code=parent,
                postcode=postcode,
                latitude=lat,
                longitude=lon,
                provider_code=provider,
            )
        )

    def _add_regions_and_icbs(self) -> None:
        for code, name in _REGIONS:
            self._add(code, name, "region", None, None)
        for icb in _ICBS:
            self._add(icb.code, icb.name, "icb", icb.region, icb.towns[0])

    def _add_trusts(self) -> None:
        slots = _trust_slots()
        codes = self.rng.sample([f"R{pair}" for pair in _PAIRS], len(slots))
        for code, (icb, town, acute) in zip(codes, slots, strict=True):
            pattern = self.rng.choice(_ACUTE_NAMES if acute else _MENTAL_HEALTH_NAMES)
            self._add(code, pattern.format(town=town.name), "nhs_trust", icb.code, town)
            (self.acute if acute else self.mental_health)[icb.region].append(code)

    def _add_independent_sector(self) -> None:
        rng = self.rng
        codes = rng.sample(
            [f"N{letter}{digit}" for letter in string.ascii_uppercase for digit in range(10)], len(_PROVIDERS)
        )
        counts = [1] * len(_PROVIDERS)
        for index in rng.choices(
            range(len(_PROVIDERS)), [p.weight for p in _PROVIDERS], k=_SITE_COUNT - len(_PROVIDERS)
        ):
            counts[index] += 1
        places = [(icb, town) for icb in _ICBS for town in icb.towns]
        for code, provider, count in zip(codes, _PROVIDERS, counts, strict=True):
            self._add(code, provider.name, "independent_provider", None, rng.choice(places)[1])
            suffixes = rng.sample(_PAIRS, count)
            for (icb, town), suffix in zip(rng.sample(places, count), suffixes, strict=True):
                site = code + suffix
                name = f"{provider.brand} {town.name} {provider.site_word}"
                self._add(site, name, "independent_site", icb.code, town, provider=code)
                self.all_sites.append(site)
                for specialty in provider.specialties:
                    self.sites.setdefault((icb.region, specialty), []).append(site)


class _People:
    """Doctors in training and other staff, with their employment histories."""

    def __init__(self, rng: random.Random, organisations: _Organisations, today: datetime.date) -> None:
        self.rng = rng
        self.orgs = organisations
        self.today = today
        self.people: list[SynthPerson] = []
        self.employments: list[SynthEmployment] = []
        self.regions = [region for region, _ in _REGIONS]
        self.region_weights = [len(organisations.acute[region]) for region in self.regions]
        self.now = _changeover_at_or_before(today)
        self.august = self.now if self.now % 2 else self.now - 1  # start of the current training year

    def _name(self) -> tuple[str, str]:
        return self.rng.choice(_GIVEN_NAMES), self.rng.choice(_FAMILY_NAMES)

    def add_doctors(self, count: int) -> None:
        rng = self.rng
        if count > len(_GMC_RANGE):
            raise ValueError(f"scale too large: at most {len(_GMC_RANGE)} doctors")
        grades = rng.choices(range(len(_GRADES)), _GRADE_WEIGHTS, k=count)
        # GMC numbers are issued in sequence: the most senior doctors hold the lowest numbers.
        numbers = sorted(rng.sample(_GMC_RANGE, count))
        gmc = [0] * count
        for number, index in zip(numbers, sorted(range(count), key=lambda i: -grades[i]), strict=True):
            gmc[index] = number
        for index, grade in enumerate(grades):
            self._add_doctor(f"P{len(self.people) + 1:06d}", grade, str(gmc[index]))

    def _specialty(self, grade: int) -> str | None:
        if grade < 2:
            return None
        eligible = [(name, weight) for name, weight, last in _SPECIALTIES if last >= grade]
        return self.rng.choices([n for n, _ in eligible], [w for _, w in eligible])[0]

    def _add_doctor(self, key: str, grade: int, gmc_number: str) -> None:
        rng = self.rng
        given, family = self._name()
        specialty = self._specialty(grade)
        self.people.append(
            SynthPerson(
                key=key,
                given_name=given,
                family_name=family,
                gmc_number=gmc_number,
                staff_group="medical",
                grade=_GRADES[grade],
                specialty=specialty,
            )
        )
        region = rng.choices(self.regions, self.region_weights)[0]
        sessions = 10 if rng.random() < 0.85 else rng.choice((6, 7, 8))
        posts = self._rotations(grade)
        previous = ""
        for number, (first, after) in enumerate(posts):
            grade_then = grade - (self.august - (first if first % 2 else first - 1)) // 2
            post_specialty = rng.choice(_FOUNDATION_POSTS) if grade_then < 2 else specialty
            previous = self._doctor_organisation(region, post_specialty, grade_then, previous)
            end: datetime.date | None = _changeover(after) - _DAY
            if number == len(posts) - 1 and rng.random() < 0.1:
                end = None  # an open-ended contract with a lead employer
            self.employments.append(
                SynthEmployment(
                    person_key=key,
                    organisation_code=previous,
                    role=_doctor_role(grade_then),
                    staff_group="medical",
                    specialty=post_specialty,
                    start=_changeover(first),
                    end=end,
                    contracted_sessions=sessions,
                )
            )

    def _rotations(self, grade: int) -> list[tuple[int, int]]:
        """Consecutive posts as (first changeover, changeover after the end), oldest first, the last
        one current; never earlier than the doctor's first August in training."""
        rng = self.rng
        earliest = self.august - 2 * grade
        if grade >= _FIRST_ST and rng.random() < 0.7:
            first = self.august  # a 12-month post
            after = first + 2
        else:
            first = self.now
            after = first + 1
        while _changeover(after) - _DAY <= self.today:
            after += 1
        posts = [(first, after)]
        wanted = rng.choices((1, 2, 3, 4), (15, 30, 30, 25))[0]
        while len(posts) < wanted:
            start = posts[-1][0]
            grade_then = grade - (self.august - (start if start % 2 else start - 1)) // 2
            step = 2 if grade_then >= _FIRST_ST and rng.random() < 0.7 else 1
            if start - step < earliest:
                step = 1
            if start - step < earliest:
                break
            posts.append((start - step, start))
        posts.reverse()
        return posts

    def _doctor_organisation(self, region: str, specialty: str | None, grade: int, previous: str) -> str:
        rng = self.rng
        if specialty is not None and grade >= 2 and rng.random() < 0.08:
            sites = self.orgs.sites.get((region, specialty))
            if sites:
                return rng.choice(sites)
        trusts = self.orgs.acute[region]
        if specialty == "psychiatry" and self.orgs.mental_health[region]:
            trusts = self.orgs.mental_health[region]
        choice = rng.choice(trusts)
        if choice == previous and len(trusts) > 1:
            choice = rng.choice([code for code in trusts if code != previous])
        return choice

    def add_other_staff(self, count: int) -> None:
        for group in self.rng.choices(_OTHER_GROUPS, _OTHER_GROUP_WEIGHTS, k=count):
            self._add_other(f"P{len(self.people) + 1:06d}", group)

    def _other_organisation(self, region: str) -> str:
        if self.rng.random() < 0.35:
            return self.rng.choice(self.orgs.all_sites)
        trusts = self.orgs.acute[region] + self.orgs.mental_health[region]
        return self.rng.choice(trusts)

    def _add_other(self, key: str, group: str) -> None:
        rng = self.rng
        given, family = self._name()
        self.people.append(
            SynthPerson(
                key=key,
                given_name=given,
                family_name=family,
                gmc_number=None,
                staff_group=group,
                grade="other",
                specialty=None,
            )
        )
        region = rng.choices(self.regions, self.region_weights)[0]
        sessions = 10 if rng.random() < 0.65 else rng.randint(3, 9)
        start = self.today - datetime.timedelta(days=rng.randint(30, 8 * 365))
        end = None if rng.random() < 0.85 else self.today + datetime.timedelta(days=rng.randint(30, 700))
        spans: list[tuple[datetime.date, datetime.date | None]] = [(start, end)]
        if rng.random() < 0.5:
            previous_end = start - datetime.timedelta(days=rng.randint(1, 60))
            spans.insert(0, (previous_end - datetime.timedelta(days=rng.randint(180, 5 * 365)), previous_end))
        for first, last in spans:
            self.employments.append(
                SynthEmployment(
                    person_key=key,
                    organisation_code=self._other_organisation(region),
                    role=rng.choice(_OTHER_ROLES[group]),
                    staff_group=group,
                    specialty=None,
                    start=first,
                    end=last,
                    contracted_sessions=sessions,
                )
            )


def _doctor_role(grade: int) -> str:
    if grade < 2:
        return "Foundation doctor"
    if grade < _FIRST_ST:
        return "Core trainee"
    return "Specialty registrar"


def generate(scale: float = 1.0, seed: int = 0, today: datetime.date = DEFAULT_TODAY) -> SynthWorld:
    """A synthetic workforce. Organisations do not scale; there are ``round(5000 * scale)`` doctors in
    training and ``round(500 * scale)`` other staff. Employments end on or before ``today`` except each
    person's current one, which has no end or ends after ``today``."""
    if not math.isfinite(scale) or scale < 0:
        raise ValueError(f"scale must be a finite number >= 0, not {scale!r}")
    rng = random.Random(seed)  # noqa: S311 - demo data, not cryptography
    organisations = _Organisations(rng)
    people = _People(rng, organisations, today)
    people.add_doctors(round(_DOCTORS_PER_SCALE * scale))
    people.add_other_staff(round(_OTHERS_PER_SCALE * scale))
    return SynthWorld(organisations=organisations.items, people=people.people, employments=people.employments)
