"""Tables of the workforce domain: organisations, people, employments."""

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base


class Organisation(Base):
    __tablename__ = "organisations"

    code: Mapped[str] = mapped_column(String(10), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(30))
    parent_code: Mapped[str | None] = mapped_column(String(10), ForeignKey("organisations.code"))
    postcode: Mapped[str | None] = mapped_column(String(8))
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    created_at: Mapped[dt.datetime]


class Person(Base):
    __tablename__ = "people"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    given_name: Mapped[str] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100))
    gmc_number: Mapped[str | None] = mapped_column(String(7), unique=True)
    staff_group: Mapped[str] = mapped_column(String(30))
    grade: Mapped[str] = mapped_column(String(10))
    specialty: Mapped[str | None] = mapped_column(String(60))
    created_at: Mapped[dt.datetime]
