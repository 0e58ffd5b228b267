/*
 * The built-in browser wallet of the Staff Passport Registry (docs/web.md, "The browser wallet").
 *
 * Plain modern JavaScript, no build step, no library. It runs on two pages:
 *
 * - /wallet (element #wallet): makes holder keys with WebCrypto (ECDSA P-256, not extractable), gets the
 *   signed-in doctor's credentials with OpenID4VCI 1.0 (pre-authorized code flow) from the registry's
 *   public endpoints, keeps keys and credentials in IndexedDB, lists them with the state each copy's
 *   status list gives (valid, revoked, suspended), removes them.
 * - /wallet/share (element #share): fetches a provider's signed OpenID4VP request object, checks its
 *   signature against the registry's did:web document and its members against what the page was told,
 *   offers only copies their status lists do not show revoked or suspended, lets the doctor choose the
 *   disclosures, builds SD-JWT presentations with key-binding JWTs and answers by direct_post.
 *
 * The private keys never leave the browser: the page can sign with them but nobody, the page included,
 * can read them out (crypto.subtle.exportKey refuses). The page's Content-Security-Policy lets it talk
 * to this site only (connect-src 'self'), so every address is checked to be on this site first.
 * Every failure is told in plain words in the page's aria-live status region.
 */
(function () {
  "use strict";

  const PRE_AUTHORIZED = "urn:ietf:params:oauth:grant-type:pre-authorized_code";
  const PROOF_TYP = "openid4vci-proof+jwt";
  const REQUEST_TYP = "oauth-authz-req+jwt";
  const KB_TYP = "kb+jwt";
  const STATUS_TYP = "statuslist+jwt";
  const DEFAULT_TTL = 300; // seconds a status list without a ttl is kept (as the verifier's cache)
  const MAX_LIST_BYTES = 16 * 1024 * 1024; // the verifier's zip-bomb guard, too
  const FORMAT = "dc+sd-jwt";
  const DID_PREFIX = "decentralized_identifier:";
  const MAX_COPIES = 5; // copies of each credential asked for (the issuer's batch size caps it)
  const DB_NAME = "staff-passport-wallet";
  const DB_VERSION = 2; // 1: credentials; 2: and the verified status lists
  const STORE = "credentials";
  const LISTS = "status-lists";
  const ECDSA = { name: "ECDSA", namedCurve: "P-256" };
  const ES256 = { name: "ECDSA", hash: "SHA-256" };

  const encoder = new TextEncoder();
  const decoder = new TextDecoder();

  /** The answers the registry refuses for good, in the doctor's words (by problem code). */
  const CLOSED = {
    request_answered: {
      heading: "This request has already been answered",
      detail: "An answer to this request from {organisation} has already been received (from another tab or device, perhaps). A request is answered once: nothing more was sent.",
    },
    request_expired: {
      heading: "This request has expired",
      detail: "The request from {organisation} expired before your answer arrived: nothing was sent. Ask them for a new link.",
    },
  };

  /** A failure to tell the doctor, in plain words. */
  class WalletProblem extends Error {}

  // ------------------------------------------------------------ encoding

  function b64u(bytes) {
    let text = "";
    for (const byte of new Uint8Array(bytes)) text += String.fromCharCode(byte);
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function b64uDecode(text) {
    if (!/^[A-Za-z0-9_-]*$/.test(text)) throw new WalletProblem("A document from the registry is not well formed.");
    const padded = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
    const binary = atob(padded);
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  }

  function b64uJson(value) {
    return b64u(encoder.encode(JSON.stringify(value)));
  }

  function decodeJson(part) {
    try {
      return JSON.parse(decoder.decode(b64uDecode(part)));
    } catch (error) {
      throw new WalletProblem("A document from the registry is not well formed.");
    }
  }

  async function sha256(text) {
    return b64u(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
  }

  // ------------------------------------------------------------ telling the doctor

  let statusRegion = null;

  function say(text, kind) {
    if (statusRegion === null) return;
    statusRegion.textContent = text;
    statusRegion.className = "wallet-status" + (kind ? " wallet-status-" + kind : "");
  }

  function failed(what, error) {
    const reason = error instanceof WalletProblem ? error.message : "Something went wrong in this browser (" + error + ").";
    say(what + ": " + reason, "error");
  }

  /** Focus ``element`` again when the browser dropped focus (a focused button that was disabled). */
  function keepFocus(element) {
    if (document.activeElement === null || document.activeElement === document.body) element.focus();
  }

  // ------------------------------------------------------------ HTTP (this site only)

  function onThisSite(url, what) {
    let parsed;
    try {
      parsed = new URL(url, location.href);
    } catch (error) {
      throw new WalletProblem(what + ": the address given is not a web address.");
    }
    if (parsed.origin !== location.origin) {
      throw new WalletProblem(what + ": the address is on another site (" + parsed.origin + "); this wallet talks only to this registry.");
    }
    return parsed.href;
  }

  async function http(url, options, what) {
    const address = onThisSite(url, what);
    try {
      return await fetch(address, Object.assign({ credentials: "same-origin", cache: "no-store", redirect: "error" }, options || {}));
    } catch (error) {
      throw new WalletProblem(what + ": the registry could not be reached. Check your connection and try again.");
    }
  }

  /** The reason in a problem details answer (RFC 9457), in words. */
  async function refusal(response) {
    try {
      const problem = await response.json();
      const reasons = (problem.errors || []).map((e) => e.reason).filter((r) => r && r !== problem.detail);
      return [problem.detail || problem.title || "refused"].concat(reasons).join(" ");
    } catch (error) {
      return "the registry answered " + response.status + ".";
    }
  }

  async function json(url, options, what) {
    const response = await http(url, options, what);
    if (!response.ok) throw new WalletProblem(what + ": " + (await refusal(response)));
    try {
      return { body: await response.json(), response: response };
    } catch (error) {
      throw new WalletProblem(what + ": the registry's answer is not JSON.");
    }
  }

  /** The registry's time from a response (so a wrong clock in this computer does not spoil proofs). */
  function serverTime(response) {
    const stated = Date.parse(response.headers.get("date") || "");
    return Math.floor((Number.isNaN(stated) ? Date.now() : stated) / 1000);
  }

  // ------------------------------------------------------------ IndexedDB: keys and credentials

  function openDb() {
    return new Promise((resolve, reject) => {
      if (!window.indexedDB) {
        reject(new WalletProblem("This browser keeps no data for sites (IndexedDB is off, e.g. in a private window)."));
        return;
      }
      const opening = indexedDB.open(DB_NAME, DB_VERSION);
      opening.onupgradeneeded = (event) => {
        const db = opening.result;
        if (event.oldVersion < 1) db.createObjectStore(STORE, { keyPath: "id" }).createIndex("holder", "holder");
        if (event.oldVersion < 2) db.createObjectStore(LISTS, { keyPath: "uri" }); // verified status lists
      };
      opening.onsuccess = () => {
        const db = opening.result;
        db.onversionchange = () => db.close(); // a newer page upgrading the storage goes first
        resolve(db);
      };
      opening.onerror = () => reject(new WalletProblem("This browser refused to open the wallet's storage."));
      // Blocked (another tab has it open for a moment): the upgrade goes on once that tab closes it.
    });
  }

  /** Run ``work(store)`` in one transaction; resolves with its result once the transaction is done. */
  async function inStore(mode, work, name) {
    const db = await openDb();
    try {
      return await new Promise((resolve, reject) => {
        const transaction = db.transaction(name || STORE, mode);
        let result;
        transaction.oncomplete = () => resolve(result);
        transaction.onerror = () => reject(new WalletProblem("This browser could not update the wallet's storage (is it full?)."));
        transaction.onabort = transaction.onerror;
        result = work(transaction.objectStore(name || STORE));
      });
    } finally {
      db.close();
    }
  }

  /** Every credential this signed-in doctor keeps in this browser (another doctor's are never shown). */
  async function heldBy(holder) {
    const found = [];
    await inStore("readonly", (store) => {
      store.index("holder").openCursor(IDBKeyRange.only(holder)).onsuccess = (event) => {
        const cursor = event.target.result;
        if (cursor) {
          found.push(cursor.value);
          cursor.continue();
        }
      };
    });
    return found;
  }

  /**
   * Replace the copies of one credential type with ``records`` (CryptoKey objects are kept as they are),
   * in one transaction: the new copies are written, then every other copy of the type is deleted. Two
   * tabs adding at once cannot leave more than MAX_COPIES: IndexedDB runs their transactions one after
   * the other, and whichever runs last leaves only its own copies.
   */
  async function replaceKind(holder, kind, records) {
    const keep = new Set(records.map((r) => r.id));
    await inStore("readwrite", (store) => {
      for (const record of records) store.put(record);
      store.index("holder").openCursor(IDBKeyRange.only(holder)).onsuccess = (event) => {
        const cursor = event.target.result;
        if (!cursor) return;
        if (cursor.value.kind === kind && !keep.has(cursor.value.id)) cursor.delete();
        cursor.continue();
      };
    });
  }

  async function removeKind(holder, kind) {
    await replaceKind(holder, kind, []);
  }

  /** Write back a copy's use count, unless the copy was replaced meanwhile (adding again in another tab). */
  async function save(record) {
    await inStore("readwrite", (store) => {
      store.get(record.id).onsuccess = (event) => {
        if (event.target.result) store.put(record);
      };
    });
  }

  // ------------------------------------------------------------ JWS (ES256 and EdDSA)

  async function publicJwk(publicKey) {
    const jwk = await crypto.subtle.exportKey("jwk", publicKey); // a public key: always exportable
    return { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y };
  }

  /** A compact JWS signed in this browser with a non-extractable P-256 key. */
  async function signJws(privateKey, header, payload) {
    const input = b64uJson(Object.assign({ alg: "ES256" }, header)) + "." + b64uJson(payload);
    const signature = await crypto.subtle.sign(ES256, privateKey, encoder.encode(input)); // r || s, as JWS wants
    return input + "." + b64u(signature);
  }

  async function verifyJws(token, jwk) {
    const parts = token.split(".");
    if (parts.length !== 3) throw new WalletProblem("a signed document is not a compact JWS.");
    const header = decodeJson(parts[0]);
    let algorithm, imported;
    try {
      if (header.alg === "ES256" && jwk.kty === "EC" && jwk.crv === "P-256") {
        algorithm = ES256;
        imported = await crypto.subtle.importKey("jwk", { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y }, ECDSA, false, ["verify"]);
      } else if (header.alg === "EdDSA" && jwk.kty === "OKP" && jwk.crv === "Ed25519") {
        algorithm = { name: "Ed25519" };
        imported = await crypto.subtle.importKey("jwk", { kty: "OKP", crv: "Ed25519", x: jwk.x }, algorithm, false, ["verify"]);
      } else {
        throw new WalletProblem("a signed document uses an algorithm this wallet does not accept (" + header.alg + ").");
      }
    } catch (error) {
      if (error instanceof WalletProblem) throw error;
      throw new WalletProblem("the registry's key cannot be used in this browser.");
    }
    const ok = await crypto.subtle.verify(algorithm, imported, b64uDecode(parts[2]), encoder.encode(parts[0] + "." + parts[1]));
    if (!ok) throw new WalletProblem("a signature does not verify: the document is not the registry's.");
    return { header: header, payload: decodeJson(parts[1]) };
  }

  // ------------------------------------------------------------ SD-JWT (RFC 9901)

  /**
   * A credential as the wallet reads it: the issuer-signed JWT, its disclosures, the claims with every
   * disclosure applied, and where each disclosure sits (its path, and the disclosure enclosing it).
   */
  async function parseSdJwt(text) {
    const pieces = text.split("~");
    const jwt = pieces[0];
    const encoded = pieces.slice(1, -1);
    const jwtParts = jwt.split(".");
    if (jwtParts.length !== 3 || pieces.length < 2) throw new WalletProblem("a credential is not an SD-JWT.");
    const disclosures = [];
    for (const item of encoded) {
      const content = decodeJson(item);
      const digest = await sha256(item);
      if (Array.isArray(content) && content.length === 3) disclosures.push({ encoded: item, digest: digest, name: content[1], value: content[2] });
      else if (Array.isArray(content) && content.length === 2) disclosures.push({ encoded: item, digest: digest, name: null, value: content[1] });
      else throw new WalletProblem("a credential has a disclosure that is not one.");
    }
    const byDigest = new Map(disclosures.map((d) => [d.digest, d]));
    const placed = new Map(); // digest -> { path, parent }

    function expand(node, path, parent) {
      if (Array.isArray(node)) {
        const items = [];
        for (const element of node) {
          if (element && typeof element === "object" && !Array.isArray(element) && Object.keys(element).length === 1 && "..." in element) {
            const found = byDigest.get(element["..."]);
            if (found) {
              const at = path.concat([items.length]);
              placed.set(found.digest, { path: at, parent: parent });
              items.push(expand(found.value, at, found.digest));
            }
            continue; // a decoy
          }
          items.push(expand(element, path.concat([items.length]), parent));
        }
        return items;
      }
      if (node && typeof node === "object") {
        const out = {};
        for (const [key, value] of Object.entries(node)) {
          if (key !== "_sd" && key !== "_sd_alg") out[key] = expand(value, path.concat([key]), parent);
        }
        for (const digest of node._sd || []) {
          const found = byDigest.get(digest);
          if (found && found.name !== null) {
            const at = path.concat([found.name]);
            placed.set(found.digest, { path: at, parent: parent });
            out[found.name] = expand(found.value, at, found.digest);
          }
        }
        return out;
      }
      return node;
    }

    const header = decodeJson(jwtParts[0]);
    const payload = decodeJson(jwtParts[1]);
    return { text: text, jwt: jwt, header: header, payload: payload, disclosures: disclosures, claims: expand(payload, [], null), placed: placed };
  }

  function samePath(a, b) {
    return a.length === b.length && a.every((part, i) => part === b[i]);
  }

  function startsWith(path, prefix) {
    return prefix.length <= path.length && prefix.every((part, i) => part === path[i]);
  }

  // ------------------------------------------------------------ status lists (Token Status List)

  /*
   * Each copy's `status.status_list {idx, uri}` points at its entry in a public status list token
   * (`typ: statuslist+jwt`) signed with the registry's credential keys (/.well-known/jwt-vc-issuer). The
   * wallet checks a copy before it lists or offers it: the token's type, signature and `sub` (the list's
   * address), its expiry, then the entry at `idx` (2 bits: 0 valid, 1 revoked, 2 suspended). A verified
   * list is kept (in memory and in IndexedDB) for its `ttl` (capped by `exp`), as the verifier keeps it.
   */

  /** A copy's state in words, and whether it may be offered. */
  const STATES = {
    valid: { words: "Valid", offered: true },
    revoked: { words: "Revoked", offered: false },
    suspended: { words: "Suspended", offered: false },
    unchecked: { words: "Status not checked", offered: true },
  };
  const STATUS_VALUES = ["valid", "revoked", "suspended"]; // the list's 2-bit values 0, 1, 2

  const lists = new Map(); // uri -> a verified list { uri, bits, bytes, until, fetched } (this page)
  let issuerKeysFor = null; // the credential issuer's keys, fetched once per page

  /** ``status.status_list`` of a kept copy, or null when it has none that can be read. */
  function statusEntry(record) {
    let payload;
    try {
      payload = decodeJson(record.credential.split("~")[0].split(".")[1] || "");
    } catch (error) {
      return null;
    }
    const entry = payload && payload.status && payload.status.status_list;
    if (!entry || !Number.isInteger(entry.idx) || entry.idx < 0 || typeof entry.uri !== "string") return null;
    return { uri: entry.uri, idx: entry.idx, iss: payload.iss };
  }

  async function inflate(bytes) {
    if (typeof DecompressionStream !== "function") throw new WalletProblem("this browser cannot read a status list.");
    const parts = [];
    let size = 0;
    try {
      const reader = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate")).getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        size += value.length;
        if (size > MAX_LIST_BYTES) {
          reader.cancel();
          throw new WalletProblem("the status list is larger than any the registry publishes.");
        }
        parts.push(value);
      }
    } catch (error) {
      if (error instanceof WalletProblem) throw error;
      throw new WalletProblem("the status list is not well formed.");
    }
    const out = new Uint8Array(size);
    let at = 0;
    for (const part of parts) {
      out.set(part, at);
      at += part.length;
    }
    return out;
  }

  async function issuerKeys(iss) {
    if (issuerKeysFor === null || issuerKeysFor.iss !== iss) {
      const metadata = (await json(iss + "/.well-known/jwt-vc-issuer", {}, "Reading the registry's keys")).body;
      if (metadata.issuer !== iss || !metadata.jwks || !Array.isArray(metadata.jwks.keys)) {
        throw new WalletProblem("the registry's key list is not for the issuer of your credentials.");
      }
      issuerKeysFor = { iss: iss, keys: metadata.jwks.keys };
    }
    return issuerKeysFor.keys;
  }

  /** A verified list kept from earlier (this page, or IndexedDB) that its ttl still covers, or null. */
  async function keptList(uri) {
    const fresh = (entry) => entry && entry.fetched <= Date.now() && Date.now() < entry.until;
    if (fresh(lists.get(uri))) return lists.get(uri);
    let stored = null;
    try {
      await inStore("readonly", (store) => {
        store.get(uri).onsuccess = (event) => {
          stored = event.target.result || null;
        };
      }, LISTS);
    } catch (error) {
      return null;
    }
    if (!fresh(stored)) return null;
    lists.set(uri, stored);
    return stored;
  }

  /** Fetch and check the status list token at ``uri`` (the copies' issuer ``iss``); keep it for its ttl. */
  async function fetchList(uri, iss) {
    const what = "Reading the status list";
    const response = await http(uri, {}, what);
    if (!response.ok) throw new WalletProblem("the registry answered " + response.status + ".");
    if ((response.headers.get("content-type") || "").split(";")[0].trim() !== "application/statuslist+jwt") {
      throw new WalletProblem("the answer is not a status list.");
    }
    const token = (await response.text()).trim();
    const now = serverTime(response);
    const header = decodeJson(token.split(".")[0] || "");
    if (header.typ !== STATUS_TYP) throw new WalletProblem("the answer is not a status list token.");
    const key = (await issuerKeys(iss)).find((k) => k.kid === header.kid);
    if (!key) throw new WalletProblem("the status list is signed with a key the registry does not publish.");
    const claims = (await verifyJws(token, key)).payload;
    if (claims.sub !== uri) throw new WalletProblem("the status list is for another address.");
    if ("iss" in claims && claims.iss !== iss) throw new WalletProblem("the status list is from another issuer.");
    if (!Number.isInteger(claims.iat)) throw new WalletProblem("the status list has no time of issue.");
    if ("exp" in claims && !(Number.isInteger(claims.exp) && claims.exp > now)) throw new WalletProblem("the status list has expired.");
    let ttl = "ttl" in claims ? claims.ttl : DEFAULT_TTL;
    if (!Number.isInteger(ttl) || ttl <= 0) throw new WalletProblem("the status list's ttl is not a number of seconds.");
    if ("exp" in claims) ttl = Math.min(ttl, claims.exp - now);
    const list = claims.status_list || {};
    if (![1, 2, 4, 8].includes(list.bits) || typeof list.lst !== "string") throw new WalletProblem("the status list is not well formed.");
    const fetched = Date.now();
    const entry = { uri: uri, bits: list.bits, bytes: await inflate(b64uDecode(list.lst)), fetched: fetched, until: fetched + ttl * 1000 };
    lists.set(uri, entry);
    try {
      await inStore("readwrite", (store) => store.put(entry), LISTS);
    } catch (error) {
      // Kept for this page only: the next page fetches it again.
    }
    return entry;
  }

  /** The value at ``idx`` of a verified list (least significant bits first), or null past its end. */
  function listValue(list, idx) {
    const position = idx * list.bits;
    const byte = position >> 3;
    if (byte >= list.bytes.length) return null;
    return (list.bytes[byte] >> (position & 7)) & ((1 << list.bits) - 1);
  }

  /**
   * The state of each copy (by id): ``{ state: valid | revoked | suspended | unchecked, why }``; ``why``
   * says, for a copy not checked, why not. Each list is fetched at most once per ttl.
   */
  async function statuses(records) {
    const found = new Map();
    const byList = new Map();
    for (const record of records) {
      const entry = statusEntry(record);
      if (!entry) {
        found.set(record.id, { state: "unchecked", why: "the credential names no status list" });
        continue;
      }
      if (!byList.has(entry.uri)) byList.set(entry.uri, []);
      byList.get(entry.uri).push([record, entry]);
    }
    for (const [uri, items] of byList) {
      let list = null;
      let why = null;
      try {
        list = (await keptList(uri)) || (await fetchList(uri, items[0][1].iss));
      } catch (error) {
        why = error instanceof WalletProblem ? error.message : "this browser could not read the status list (" + error + ").";
      }
      for (const [record, entry] of items) {
        const value = list === null ? null : listValue(list, entry.idx);
        const state = value === null ? null : STATUS_VALUES[value];
        if (state) found.set(record.id, { state: state, why: null });
        else found.set(record.id, { state: "unchecked", why: why || "the status list has no such entry" });
      }
    }
    return found;
  }

  /** RFC 7638 thumbprint of a copy's public key (members in lexicographic order, as JSON.stringify keeps them). */
  function thumbprint(jwk) {
    return sha256(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }));
  }

  /**
   * When the registry revoked or suspended each copy the status lists show withdrawn (by copy id), from
   * its own list of the doctor's credentials (the status list says nothing of when). Asked only when some
   * copy is withdrawn; empty when the registry cannot say: the page then says "revoked" without a day.
   */
  async function whenWithdrawn(data, records, found) {
    const when = new Map();
    const withdrawn = records.filter((r) => !STATES[found.get(r.id).state].offered);
    if (!withdrawn.length || !data.changes_url) return when;
    let items;
    try {
      items = (await json(data.changes_url, { redirect: "error" }, "Asking when")).body.items || [];
    } catch (error) {
      return when;
    }
    const byKey = new Map(items.map((item) => [item.thumbprint, item]));
    for (const record of withdrawn) {
      const change = record.publicJwk && byKey.get(await thumbprint(record.publicJwk));
      if (change && change.state === found.get(record.id).state) when.set(record.id, change);
    }
    return when;
  }

  /** " on 2026-12-01 (a newer one replaced it)", or "" when the day is not known. */
  function changedOn(change) {
    if (!change || !change.changed_on) return "";
    return " on " + change.changed_on + (change.superseded ? " (a newer one replaced it after a record changed)" : "");
  }

  /** One type's copies in words: "Valid", "Revoked on 2026-12-01", "3 valid, 2 revoked", "Status not checked". */
  function statesInWords(records, found, when) {
    const counts = new Map();
    for (const record of records) {
      const state = (found.get(record.id) || { state: "unchecked" }).state;
      counts.set(state, (counts.get(state) || 0) + 1);
    }
    if (counts.size === 1) {
      const state = [...counts.keys()][0];
      const change = records.map((r) => when.get(r.id)).find((c) => c);
      return STATES[state].words + (STATES[state].offered ? "" : changedOn(change));
    }
    return [...counts].map(([state, n]) => n + " " + STATES[state].words.toLowerCase()).join(", ");
  }

  /** Why a type's copy is not offered, in the doctor's words. */
  function withdrawnInWords(name, state, change) {
    return name + ": this copy was " + state + " by the issuer" + changedOn(change) + ", so it is not offered.";
  }

  // ------------------------------------------------------------ the wallet page

  function kindName(data, kind) {
    return (data.kind_names && data.kind_names[kind]) || kind;
  }

  function day(seconds) {
    if (typeof seconds !== "number") return "not stated";
    return new Date(seconds * 1000).toISOString().slice(0, 10);
  }

  /** The day a credential expires, and "(expired)" once it has: the wallet does not share it then. */
  function expiry(seconds) {
    const text = day(seconds);
    return typeof seconds === "number" && seconds * 1000 <= Date.now() ? text + " (expired: add again)" : text;
  }

  async function showCredentials(data) {
    const table = document.getElementById("wallet-credentials");
    const empty = document.getElementById("wallet-empty");
    const body = table.querySelector("tbody");
    const held = await heldBy(data.holder);
    const kinds = new Map();
    for (const record of held) {
      if (!kinds.has(record.kind)) kinds.set(record.kind, []);
      kinds.get(record.kind).push(record);
    }
    // Each copy against its status list (a revoked copy would only be found invalid by a provider).
    const found = await statuses(held);
    const when = await whenWithdrawn(data, held, found);
    const summary = { withdrawn: [], unchecked: new Set() };
    body.replaceChildren();
    const headings = [...table.querySelectorAll("thead th")].map((th) => th.textContent.trim());
    for (const [kind, records] of kinds) {
      const row = document.createElement("tr");
      row.setAttribute("role", "row");
      const cells = [
        kindName(data, kind),
        day(Math.min(...records.map((r) => r.issuedAt))),
        expiry(Math.min(...records.map((r) => r.expiresAt))),
        String(records.length),
        statesInWords(records, found, when),
      ];
      cells.forEach((text, i) => {
        const cell = document.createElement("td");
        cell.setAttribute("role", "cell");
        // The column's heading, shown beside the value only when the rows stack (web.css, narrow screens).
        const heading = document.createElement("span");
        heading.className = "cell-heading";
        heading.setAttribute("aria-hidden", "true");
        heading.textContent = headings[i];
        cell.append(heading, document.createTextNode(text));
        if (i === 3) cell.className = "number";
        row.append(cell);
      });
      const states = records.map((r) => found.get(r.id));
      if (!states.some((f) => STATES[f.state].offered)) summary.withdrawn.push(kindName(data, kind) + " (" + states[0].state + ")");
      for (const f of states) if (f.state === "unchecked") summary.unchecked.add(f.why);
      const action = document.createElement("td");
      action.setAttribute("role", "cell");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "button button-secondary";
      button.textContent = "Remove from this browser";
      button.setAttribute("aria-label", "Remove " + kindName(data, kind) + " from this browser");
      button.addEventListener("click", async () => {
        try {
          const index = [...body.querySelectorAll("button")].indexOf(button);
          await removeKind(data.holder, kind);
          await showCredentials(data);
          say("Removed " + kindName(data, kind) + " from this browser. The registry still holds your records.", "done");
          // The button is gone with its row: focus the next row's (or the last one's), else the heading.
          const left = [...body.querySelectorAll("button")];
          (left[Math.min(index, left.length - 1)] || document.getElementById("wallet-heading")).focus();
        } catch (error) {
          failed("Removing " + kindName(data, kind), error);
        }
      });
      action.append(button);
      row.append(action);
      body.append(row);
    }
    table.hidden = kinds.size === 0;
    empty.hidden = kinds.size !== 0;
    return summary;
  }

  /** What the status lists said about the copies kept here, in words (when the page opens). */
  function sayStatuses(summary) {
    const parts = [];
    if (summary.withdrawn.length) {
      parts.push("Not usable, withdrawn by the issuer: " + summary.withdrawn.join(", ") + ". Add your credentials again for new ones (My credentials says why).");
    }
    if (summary.unchecked.size) {
      parts.push("The status of some copies was not checked (" + [...summary.unchecked].join(" ") + ") You can still share them: the provider checks it.");
    }
    if (parts.length) say(parts.join(" "), "warning");
  }

  /** The OpenID4VCI 1.0 pre-authorized code flow, from this browser, against the public endpoints. */
  async function addCredentials(data, form) {
    say("Asking the registry for your credentials…", "busy");
    const made = (await json(data.offer_url, { method: "POST", body: new URLSearchParams(new FormData(form)) }, "Asking for an offer")).body;

    // The offer, by reference (served once).
    const offer = (await json(made.credential_offer_uri, {}, "Fetching the offer")).body;
    const issuer = offer.credential_issuer;
    onThisSite(issuer, "The offer");
    const grant = offer.grants && offer.grants[PRE_AUTHORIZED];
    if (!grant || typeof grant["pre-authorized_code"] !== "string") throw new WalletProblem("The offer has no pre-authorized code.");

    // What the issuer supports, and where its endpoints are.
    const metadata = (await json(issuer + "/.well-known/openid-credential-issuer", {}, "Reading the issuer's metadata")).body;
    const server = (await json(issuer + "/.well-known/oauth-authorization-server", {}, "Reading the token endpoint")).body;
    if (metadata.credential_issuer !== issuer) throw new WalletProblem("The issuer's metadata is for another issuer.");
    if (!(server.grant_types_supported || []).includes(PRE_AUTHORIZED)) throw new WalletProblem("The registry does not offer the pre-authorized code grant.");
    const batch = (metadata.batch_credential_issuance && metadata.batch_credential_issuance.batch_size) || 1;
    const copies = Math.max(1, Math.min(batch, MAX_COPIES));
    const issuerKeys = (await json(issuer + "/.well-known/jwt-vc-issuer", {}, "Reading the issuer's keys")).body.jwks.keys;

    // The access token: the pre-authorized code, and the transaction code this page was given.
    const tokenForm = new URLSearchParams({ grant_type: PRE_AUTHORIZED, "pre-authorized_code": grant["pre-authorized_code"] });
    if (grant.tx_code) tokenForm.set("tx_code", made.tx_code);
    const token = (await json(server.token_endpoint, { method: "POST", body: tokenForm }, "Redeeming the offer")).body.access_token;
    const bearer = { Authorization: "Bearer " + token };

    const added = [];
    const nothing = [];
    for (const configurationId of offer.credential_configuration_ids) {
      const name = kindName(data, configurationId);
      const configuration = (metadata.credential_configurations_supported || {})[configurationId];
      const algorithms = configuration && configuration.proof_types_supported && configuration.proof_types_supported.jwt
        ? configuration.proof_types_supported.jwt.proof_signing_alg_values_supported : [];
      if (!configuration || configuration.format !== FORMAT || !algorithms.includes("ES256")) {
        throw new WalletProblem(name + ": the issuer offers it in a form this wallet cannot keep.");
      }
      say("Making keys and asking for " + name + "…", "busy");
      const nonced = await json(metadata.nonce_endpoint, { method: "POST" }, "Asking for a nonce");
      const nonce = nonced.body.c_nonce;
      const iat = serverTime(nonced.response);
      // One key per copy, made here and never extractable: the page can sign with it, nobody can read it.
      const keys = [];
      for (let i = 0; i < copies; i += 1) keys.push(await crypto.subtle.generateKey(ECDSA, false, ["sign", "verify"]));
      const jwks = await Promise.all(keys.map((k) => publicJwk(k.publicKey)));
      const proofs = await Promise.all(keys.map((k, i) => signJws(k.privateKey, { typ: PROOF_TYP, jwk: jwks[i] }, { aud: issuer, iat: iat, nonce: nonce })));
      const response = await http(metadata.credential_endpoint, {
        method: "POST",
        headers: Object.assign({ "Content-Type": "application/json" }, bearer),
        body: JSON.stringify({ credential_configuration_id: configurationId, proofs: { jwt: proofs } }),
      }, "Asking for " + name);
      if (!response.ok) {
        const problem = await response.clone().json().catch(() => ({}));
        if (problem.code === "nothing_to_issue") {
          nothing.push(name);
          continue;
        }
        throw new WalletProblem(name + ": the registry refused: " + (await refusal(response)));
      }
      const issued = await response.json();
      let records;
      try {
        records = await keepIssued(data, configurationId, issued.credentials || [], keys, jwks, issuerKeys);
      } catch (error) {
        await notify(metadata, bearer, issued.notification_id, "credential_failure");
        throw error;
      }
      await replaceKind(data.holder, configurationId, records);
      await notify(metadata, bearer, issued.notification_id, "credential_accepted");
      added.push(name + " (" + records.length + " copies)");
    }
    await showCredentials(data);
    let text = added.length ? "Added to this browser: " + added.join(", ") + "." : "Nothing was added.";
    if (nothing.length) text += " The registry holds no records for: " + nothing.join(", ") + ".";
    say(text, "done");
  }

  /** Check each issued credential (the issuer's signature, bound to one of our keys) before keeping it. */
  async function keepIssued(data, kind, credentials, keys, jwks, issuerKeys) {
    const records = [];
    const unused = new Set(jwks.map((_, i) => i));
    for (const item of credentials) {
      const held = await parseSdJwt(item.credential);
      const key = issuerKeys.find((k) => k.kid === held.header.kid);
      if (!key) throw new WalletProblem("a credential is signed with a key the registry does not publish.");
      await verifyJws(held.jwt, key);
      const bound = held.payload.cnf && held.payload.cnf.jwk;
      const index = [...unused].find((i) => bound && bound.x === jwks[i].x && bound.y === jwks[i].y);
      if (index === undefined) throw new WalletProblem("a credential is not bound to a key of this browser.");
      unused.delete(index);
      records.push({
        id: crypto.randomUUID(),
        holder: data.holder,
        kind: kind,
        vct: held.payload.vct,
        credential: item.credential,
        privateKey: keys[index].privateKey, // a CryptoKey: IndexedDB keeps it, still not extractable
        publicJwk: jwks[index],
        issuedAt: held.payload.iat,
        expiresAt: held.payload.exp,
        addedAt: Math.floor(Date.now() / 1000),
        uses: 0,
      });
    }
    if (!records.length) throw new WalletProblem("the registry sent no credential.");
    return records;
  }

  async function notify(metadata, bearer, notificationId, event) {
    if (!metadata.notification_endpoint || !notificationId) return;
    const response = await http(metadata.notification_endpoint, {
      method: "POST",
      headers: Object.assign({ "Content-Type": "application/json" }, bearer),
      body: JSON.stringify({ notification_id: notificationId, event: event }),
    }, "Telling the registry");
    if (!response.ok && event === "credential_accepted") {
      throw new WalletProblem("The registry did not take the confirmation: " + (await refusal(response)));
    }
  }

  async function walletPage(root, data) {
    const form = document.getElementById("wallet-add");
    const button = form.querySelector("button");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      button.disabled = true;
      try {
        await addCredentials(data, form);
      } catch (error) {
        failed("Your credentials were not added", error);
      } finally {
        button.disabled = false;
        keepFocus(button);
      }
    });
    sayStatuses(await showCredentials(data));
  }

  // ------------------------------------------------------------ share with a provider

  /** The DID document address of a did:web DID; it must be on this site (connect-src 'self'). */
  function didDocumentUrl(did) {
    if (!did.startsWith("did:web:")) throw new WalletProblem("the provider is not identified by did:web.");
    const [host, ...segments] = did.slice("did:web:".length).split(":");
    const path = segments.length ? "/" + segments.map(decodeURIComponent).join("/") + "/did.json" : "/.well-known/did.json";
    return location.protocol + "//" + decodeURIComponent(host) + path;
  }

  /** The request object, once its signature and every member the wallet relies on are checked. */
  async function verifiedRequest(data) {
    const what = "Reading the provider's request";
    const response = await http(data.request_uri, {}, what);
    if (!response.ok) throw new WalletProblem(what + ": " + (await refusal(response)));
    if ((response.headers.get("content-type") || "").split(";")[0].trim() !== "application/oauth-authz-req+jwt") {
      throw new WalletProblem(what + ": the answer is not a signed request object.");
    }
    const token = (await response.text()).trim();
    const now = serverTime(response);
    const header = decodeJson(token.split(".")[0] || "");
    if (header.typ !== REQUEST_TYP) throw new WalletProblem("the provider's request is not a request object.");
    if (!data.client_id.startsWith(DID_PREFIX)) throw new WalletProblem("the provider's client identifier is not a did:web one.");
    const did = data.client_id.slice(DID_PREFIX.length);
    if (typeof header.kid !== "string" || !header.kid.startsWith(did + "#")) {
      throw new WalletProblem("the request is not signed with a key of the provider's identifier.");
    }
    const didDocument = (await json(didDocumentUrl(did), {}, "Reading the registry's keys (did.json)")).body;
    const method = didDocument.id === did && (didDocument.verificationMethod || []).find((m) => m.id === header.kid);
    if (!method) throw new WalletProblem("the registry does not publish the key the request is signed with.");
    const claims = (await verifyJws(token, method.publicKeyJwk)).payload;
    const expected = { client_id: data.client_id, response_type: "vp_token", response_mode: "direct_post", response_uri: data.response_uri, nonce: data.nonce };
    for (const [name, value] of Object.entries(expected)) {
      if (claims[name] !== value) throw new WalletProblem("the signed request's " + name + " is not what this page expects: nothing was sent.");
    }
    if (claims.aud !== "https://self-issued.me/v2") throw new WalletProblem("the request is not addressed to a wallet (aud).");
    if (typeof claims.exp !== "number" || claims.exp <= now) throw new WalletProblem("the request has expired: ask the provider for a new link.");
    if ("redirect_uri" in claims) throw new WalletProblem("the request asks to send your answer elsewhere (redirect_uri).");
    const query = claims.dcql_query;
    if (!query || !Array.isArray(query.credentials) || !query.credentials.length) throw new WalletProblem("the request does not say what it asks for (dcql_query).");
    onThisSite(claims.response_uri, "The request's response address");
    return { claims: claims, query: query, now: now, fetched: performance.now() };
  }

  /** Concrete paths a need selects in a credential's claims (null: every element; where: filter). */
  function selectPaths(value, pattern, where, path) {
    if (!pattern.length) return [path];
    const head = pattern[0];
    const rest = pattern.slice(1);
    if (head === null) {
      if (!Array.isArray(value)) return [];
      const found = [];
      value.forEach((element, index) => {
        if (where && !(element && typeof element === "object" && Object.entries(where).every(([k, v]) => element[k] === v))) return;
        found.push(...selectPaths(element, rest, where, path.concat([index])));
      });
      return found;
    }
    if (!value || typeof value !== "object" || Array.isArray(value) || !(head in value)) return [];
    return selectPaths(value[head], rest, where, path.concat([head]));
  }

  /** For each disclosure of ``held`` that a need asks for: the words of why (as policy.disclosures_for). */
  function neededFor(held, kind, needs, askedPaths) {
    const reasons = new Map(); // digest -> Set of labels
    const mark = (path, label) => {
      for (const [digest, at] of held.placed) {
        if (startsWith(path, at.path)) {
          if (!reasons.has(digest)) reasons.set(digest, new Set());
          reasons.get(digest).add(label);
        }
      }
    };
    for (const need of needs) {
      if (need.credential_type !== kind) continue;
      const patterns = [need.path];
      const cut = need.path.indexOf(null);
      if (need.where && cut >= 0) for (const key of Object.keys(need.where)) patterns.push(need.path.slice(0, cut + 1).concat([key]));
      for (const pattern of patterns) for (const path of selectPaths(held.claims, pattern, need.where, [])) mark(path, need.label);
    }
    for (const path of askedPaths) mark(path, "showing your credentials are all yours");
    return reasons;
  }

  function shown(value) {
    if (value === null || value === undefined) return "";
    if (typeof value !== "object") return String(value);
    if (Array.isArray(value)) return value.length + " items";
    return Object.entries(value).filter(([, v]) => typeof v !== "object").map(([k, v]) => k.replace(/_/g, " ") + " " + v).join(", ");
  }

  function valueAt(claims, path) {
    return path.reduce((node, part) => (node === null || node === undefined ? undefined : node[part]), claims);
  }

  function recordName(element, index) {
    if (element && typeof element === "object") {
      for (const key of ["subject_name", "item_name", "site_name", "programme", "site"]) {
        if (typeof element[key] === "string") return element[key];
      }
    }
    return "Record " + (index + 1);
  }

  /** The least used copy of a credential type (each copy has its own key: shares cannot be linked by it). */
  function copyToUse(held, kind) {
    const copies = held.filter((r) => r.kind === kind);
    copies.sort((a, b) => a.uses - b.uses || a.addedAt - b.addedAt);
    return copies[0] || null;
  }

  let choiceCounter = 0;

  /** One checkbox per disclosure, nested as the credential nests them; what is needed ticked and marked. */
  function renderChoices(data, container, kind, held, reasons) {
    const labels = (data.labels && data.labels[kind]) || {};
    const outer = document.createElement("fieldset");
    outer.className = "share-credential";
    const legend = document.createElement("legend");
    legend.textContent = kindName(data, kind);
    outer.append(legend);
    const boxes = new Map(); // digest -> checkbox
    const groups = new Map(); // digest of a record -> its fieldset

    const ordered = held.disclosures.slice().sort((a, b) => {
      const pa = held.placed.get(a.digest), pb = held.placed.get(b.digest);
      return (pa ? pa.path.length : 99) - (pb ? pb.path.length : 99);
    });
    for (const disclosure of ordered) {
      const at = held.placed.get(disclosure.digest);
      if (!at) continue;
      const isRecord = typeof at.path[at.path.length - 1] === "number";
      const parentGroup = at.parent ? groups.get(at.parent) : null;
      let host = parentGroup || outer;
      let text;
      if (isRecord) {
        // A record: its claims in a fieldset, folded away unless the policy needs something of it.
        const name = recordName(valueAt(held.claims, at.path), at.path[at.path.length - 1]);
        const fold = document.createElement("details");
        fold.className = "share-record";
        const summary = document.createElement("summary");
        summary.textContent = name;
        const group = document.createElement("fieldset");
        const groupLegend = document.createElement("legend");
        groupLegend.className = "visually-hidden";
        groupLegend.textContent = name;
        group.append(groupLegend);
        fold.append(summary, group);
        outer.append(fold);
        groups.set(disclosure.digest, group);
        host = group;
        text = "That you hold this record: " + name;
      } else {
        const name = String(at.path[at.path.length - 1]);
        // A coded value in words ("fire_safety" is "Fire safety"), as the registry names it.
        const words = data.values && data.values[name];
        const value = words && typeof disclosure.value === "string" && words[disclosure.value];
        text = (labels[name] || name.replace(/_/g, " ")) + ": " + (value || shown(disclosure.value));
      }
      choiceCounter += 1;
      const id = "disclose-" + choiceCounter;
      const item = document.createElement("div");
      item.className = "share-choice";
      const box = document.createElement("input");
      box.type = "checkbox";
      box.id = id;
      box.dataset.digest = disclosure.digest;
      const label = document.createElement("label");
      label.htmlFor = id;
      label.textContent = text;
      item.append(box, label);
      const why = reasons.get(disclosure.digest);
      if (why && why.size) {
        box.checked = true;
        item.classList.add("share-needed");
        const hint = document.createElement("span");
        hint.className = "share-needed-for";
        hint.id = id + "-why";
        hint.textContent = "needed for: " + [...why].join("; ");
        box.setAttribute("aria-describedby", hint.id);
        item.append(hint);
      }
      host.append(item);
      boxes.set(disclosure.digest, box);
    }
    // A claim inside a record can be shown only with its record: ticking one ticks its record, unticking
    // a record unticks what is in it.
    for (const [digest, box] of boxes) {
      box.addEventListener("change", () => {
        if (box.checked) {
          let parent = held.placed.get(digest).parent;
          while (parent) {
            if (boxes.has(parent)) boxes.get(parent).checked = true;
            parent = held.placed.get(parent) ? held.placed.get(parent).parent : null;
          }
        } else {
          for (const [other, otherBox] of boxes) {
            const at = held.placed.get(other);
            if (startsWith(at.path, held.placed.get(digest).path) && other !== digest) otherBox.checked = false;
          }
        }
      });
    }
    for (const fold of outer.querySelectorAll("details.share-record")) {
      if (fold.querySelector(".share-needed")) {
        fold.open = true;
        fold.querySelector("summary").append(" (needed)");
      }
    }
    container.append(outer);
    return boxes;
  }

  /** ``<jwt>~<chosen disclosures>~<kb-jwt>``, the KB-JWT signed with the copy's own key. */
  async function presentation(record, held, chosen, claims, iat) {
    const presented = held.jwt + "~" + held.disclosures.filter((d) => chosen.has(d.digest)).map((d) => d.encoded + "~").join("");
    const kb = await signJws(record.privateKey, { typ: KB_TYP }, { iat: iat, aud: claims.client_id, nonce: claims.nonce, sd_hash: await sha256(presented) });
    return presented + kb;
  }

  async function sharePage(root, data) {
    const form = document.getElementById("share-form");
    const choices = document.getElementById("share-choices");
    say("Checking the provider's request…", "busy");
    const request = await verifiedRequest(data);
    const held = await heldBy(data.holder);
    if (!held.length) {
      throw new WalletProblem("there are no credentials in this browser yet. Add them on the My wallet page first.");
    }
    // Every copy against its status list: a revoked or suspended one would only be found invalid.
    say("Checking your credentials against the registry's status lists…", "busy");
    const found = await statuses(held);
    const when = await whenWithdrawn(data, held, found);
    // Each credential query of the request, answered by the least used copy of the type it names.
    const answers = [];
    const missing = [];
    const expired = [];
    const withdrawn = [];
    const unchecked = [];
    for (const query of request.query.credentials) {
      const vcts = (query.meta && query.meta.vct_values) || [];
      const matching = held.filter((r) => query.format === FORMAT && (!vcts.length || vcts.includes(r.vct)));
      // A copy past its expiry (by the registry's clock) would only be found invalid: it is not offered.
      const inDate = matching.filter((r) => !(typeof r.expiresAt === "number" && r.expiresAt <= request.now));
      // Nor is a copy its status list says is revoked or suspended; one found valid comes first.
      const usable = inDate.filter((r) => STATES[found.get(r.id).state].offered);
      const checked = usable.filter((r) => found.get(r.id).state === "valid");
      const pool = checked.length ? checked : usable;
      const kinds = [...new Set(pool.map((r) => r.kind))];
      const record = kinds.length ? copyToUse(pool, kinds[0]) : null;
      if (!record) {
        if (inDate.length) withdrawn.push(withdrawnInWords(kindName(data, inDate[0].kind), found.get(inDate[0].id).state, when.get(inDate[0].id)));
        else if (matching.length) expired.push(kindName(data, matching[0].kind));
        else missing.push(kindName(data, query.id));
        continue;
      }
      const parsed = await parseSdJwt(record.credential);
      const asked = (query.claims || []).filter((c) => c.path.length === 1 && c.path[0] === "holder_id").map((c) => c.path);
      const reasons = neededFor(parsed, record.kind, data.needs, asked);
      const boxes = renderChoices(data, choices, record.kind, parsed, reasons);
      const status = found.get(record.id);
      const line = document.createElement("p");
      line.className = "share-status";
      if (status.state === "unchecked") {
        unchecked.push(kindName(data, record.kind) + " (" + status.why + ")");
        line.textContent = "Status not checked: " + status.why + " You can still share it: " + data.organisation + " checks it.";
      } else {
        line.textContent = "Status: " + STATES[status.state].words.toLowerCase() + " (checked against the registry's status list).";
      }
      choices.lastElementChild.querySelector("legend").after(line);
      answers.push({ id: query.id, record: record, held: parsed, boxes: boxes });
    }
    const left = [];
    if (missing.length) left.push("Not in this browser, so not shared: " + missing.join(", ") + ".");
    if (expired.length) left.push("Expired in this browser, so not shared: " + expired.join(", ") + ". Add your credentials again on the My wallet page for new ones.");
    if (withdrawn.length) left.push(...withdrawn, "Add your credentials again on the My wallet page for new ones (My credentials says why).");
    if (unchecked.length) left.push("Status not checked for: " + unchecked.join(", ") + ". You can still share: the provider checks it.");
    if (!answers.length) {
      if (withdrawn.length) throw new WalletProblem("the credentials this request asks for were withdrawn by the issuer. " + left.join(" "));
      if (expired.length) throw new WalletProblem("the credentials this request asks for have expired in this browser. " + left.join(" "));
      throw new WalletProblem("none of the credentials this request asks for are in this browser. Add them on the My wallet page first.");
    }
    form.hidden = false;
    say(left.length
      ? "The request is genuine. " + left.join(" ")
      : "The request is genuine: it comes from this registry for " + data.organisation + ".", left.length ? "warning" : "done");

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      try {
        // Checked again just before sending (a list is fetched again only once its ttl has run out).
        const recheck = await statuses(answers.map((a) => a.record));
        for (const answer of answers) {
          const state = recheck.get(answer.record.id).state;
          if (!STATES[state].offered) throw new WalletProblem(withdrawnInWords(kindName(data, answer.record.kind), state) + " Nothing was sent: open this page again.");
        }
        say("Signing and sending…", "busy");
        // The registry's time when the request was fetched, plus the time since (not this computer's clock).
        const iat = request.now + Math.floor((performance.now() - request.fetched) / 1000);
        const token = {};
        for (const answer of answers) {
          const chosen = new Set([...answer.boxes].filter(([, box]) => box.checked).map(([digest]) => digest));
          if (!chosen.size) continue; // nothing of this credential chosen: it is not sent at all
          token[answer.id] = [await presentation(answer.record, answer.held, chosen, request.claims, iat)];
        }
        if (!Object.keys(token).length) throw new WalletProblem("nothing is ticked: choose what to share first.");
        const body = new URLSearchParams({ vp_token: JSON.stringify(token) });
        if (typeof request.claims.state === "string") body.set("state", request.claims.state);
        const response = await http(request.claims.response_uri, { method: "POST", body: body }, "Sending your answer");
        if (!response.ok) {
          const problem = await response.clone().json().catch(() => ({}));
          const closed = CLOSED[problem.code];
          if (closed) {
            // The request can no longer be answered (another tab or device answered it, or it expired):
            // say so in words and take the form away, rather than offer a button that cannot work.
            form.hidden = true;
            const done = document.getElementById("share-done");
            document.getElementById("share-done-heading").textContent = closed.heading;
            document.getElementById("share-done-detail").textContent = closed.detail.replace("{organisation}", data.organisation);
            done.hidden = false;
            say("Your answer was not sent: " + closed.heading.toLowerCase() + ".", "error");
            document.getElementById("share-done-heading").focus();
            return;
          }
          throw new WalletProblem("the registry refused the answer: " + (await refusal(response)));
        }
        for (const answer of answers) {
          if (token[answer.id]) {
            answer.record.uses += 1;
            await save(answer.record);
          }
        }
        form.hidden = true;
        const done = document.getElementById("share-done");
        const detail = document.getElementById("share-done-detail");
        const count = Object.keys(token).length;
        detail.textContent = "Your answer (" + count + " credential" + (count === 1 ? "" : "s") + ") was received by the registry for " + data.organisation + ". They see only what you ticked.";
        done.hidden = false;
        say("Sent to " + data.organisation + ".", "done");
        document.getElementById("share-done-heading").focus();
      } catch (error) {
        failed("Your answer was not sent", error);
        button.disabled = false;
        keepFocus(button);
      }
    });
  }

  // ------------------------------------------------------------ start

  async function start() {
    const root = document.getElementById("wallet") || document.getElementById("share");
    if (!root) return;
    root.hidden = false; // shown only when the script runs: without it the page says the wallet needs it
    statusRegion = document.getElementById("wallet-status");
    let data;
    try {
      data = JSON.parse(root.dataset.wallet);
    } catch (error) {
      say("This page is damaged: reload it.", "error");
      return;
    }
    if (!window.crypto || !crypto.subtle || !window.isSecureContext) {
      say("This browser cannot make keys here (WebCrypto needs a secure https page): the wallet cannot work.", "error");
      return;
    }
    try {
      if (root.id === "wallet") await walletPage(root, data);
      else await sharePage(root, data);
    } catch (error) {
      failed(root.id === "wallet" ? "The wallet could not start" : "This request cannot be answered from this browser", error);
    }
  }

  start();
})();
