/*
 * The consumer verification page (issue #8): type, paste, scan or open a GS1 Digital Link and get
 * the network's verdict. Vanilla JS, no dependencies, no inline code (CSP: script-src 'self').
 *
 * Server contract:
 *   GET  /v1/verify?gtin=&serial=&lot=&expiry=      -> verdict JSON (problem+json on errors, 429 + Retry-After)
 *   GET  <Digital Link path>, Accept: application/json -> the same verdict JSON
 *   POST /v1/verify/reports {gtin, serial, lot?, expiry?, description, place?} -> 201 {report_id}
 *
 * The parsing and validation helpers are pure and exposed as window.CustodyVerify for tests.
 */
(function () {
  "use strict";

  // --- GS1 codes: check digits, element strings, Digital Link URIs ------------------------------

  /** The GS1 mod-10 check digit of a digit string (weights 3,1,3,... from the right). */
  function gs1CheckDigit(body) {
    let sum = 0;
    for (let i = 0; i < body.length; i += 1) {
      const digit = body.charCodeAt(body.length - 1 - i) - 48;
      sum += digit * (i % 2 === 0 ? 3 : 1);
    }
    return (10 - (sum % 10)) % 10;
  }

  // GS1 AI encodable character set 82 (serials, lots).
  const CSET82 = /^[!"%&'()*+,\-./0-9:;<=>?A-Z_a-z]+$/;

  /** Validates a typed GTIN: {ok, value (GTIN-14)} or {ok: false, message}. */
  function validateGtin(raw) {
    const text = String(raw || "").replace(/[\s-]/g, "");
    if (!text) return { ok: false, message: "Enter the product number (GTIN) printed on the pack." };
    if (!/^\d+$/.test(text)) return { ok: false, message: "The GTIN has digits only; remove letters and other signs." };
    if (![8, 12, 13, 14].includes(text.length)) {
      return { ok: false, message: `A GTIN has 8, 12, 13 or 14 digits; this one has ${text.length}.` };
    }
    const body = text.slice(0, -1);
    if (gs1CheckDigit(body) !== Number(text.slice(-1))) {
      return {
        ok: false,
        message: "This GTIN is not valid: its last digit (the check digit) does not match the others. Check each digit for a typing mistake.",
      };
    }
    return { ok: true, value: text.padStart(14, "0") };
  }

  function validateText(raw, what, required) {
    const text = String(raw || "").trim();
    if (!text) return required ? { ok: false, message: `Enter the ${what} printed on the pack.` } : { ok: true, value: "" };
    if (text.length > 20) return { ok: false, message: `The ${what} has at most 20 characters; this one has ${text.length}.` };
    if (!CSET82.test(text)) {
      return { ok: false, message: `The ${what} may only contain letters, digits and the signs ! " % & ' ( ) * + , - . / : ; < = > ? _ (no spaces).` };
    }
    return { ok: true, value: text };
  }

  function daysInMonth(year, month) {
    return new Date(Date.UTC(year, month, 0)).getUTCDate();
  }

  /** Validates an expiry given as YYMMDD (GS1; DD 00 = end of month) or YYYY-MM-DD; value is YYMMDD. */
  function validateExpiry(raw) {
    const text = String(raw || "").trim();
    if (!text) return { ok: true, value: "" };
    let yy;
    let mm;
    let dd;
    let m = /^(\d{2})(\d{2})(\d{2})$/.exec(text);
    if (m) {
      [yy, mm, dd] = [m[1], m[2], m[3]];
    } else if ((m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text))) {
      [yy, mm, dd] = [m[1].slice(2), m[2], m[3]];
      if (dd === "00") return { ok: false, message: "Enter a day between 01 and 31 in YYYY-MM-DD." };
    } else {
      return { ok: false, message: "Enter the expiry as YYMMDD (for example 270331) or YYYY-MM-DD." };
    }
    const month = Number(mm);
    const day = Number(dd);
    if (month < 1 || month > 12) return { ok: false, message: "The expiry month must be between 01 and 12." };
    const year = gs1Year(Number(yy));
    if (day > daysInMonth(year, month)) return { ok: false, message: `The expiry day must be at most ${daysInMonth(year, month)} for that month.` };
    return { ok: true, value: `${yy}${mm}${dd}` };
  }

  /** The full year of a GS1 two-digit year (GS1 General Specifications 7.12: a sliding window around today). */
  function gs1Year(yy) {
    const now = new Date().getUTCFullYear();
    const century = Math.floor(now / 100) * 100;
    const diff = yy - (now % 100);
    if (diff >= 51) return century - 100 + yy;
    if (diff <= -50) return century + 100 + yy;
    return century + yy;
  }

  /** Validates all four codes; {ok, values} or {ok: false, errors: {field: message}}. */
  function validateCodes(input) {
    const results = {
      gtin: validateGtin(input.gtin),
      serial: validateText(input.serial, "serial number", true),
      lot: validateText(input.lot, "batch/lot", false),
      expiry: validateExpiry(input.expiry),
    };
    const errors = {};
    const values = {};
    for (const [field, result] of Object.entries(results)) {
      if (result.ok) values[field] = result.value;
      else errors[field] = result.message;
    }
    return Object.keys(errors).length ? { ok: false, errors } : { ok: true, values };
  }

  // Application identifiers this page can read from an unbracketed element string: data length
  // (fixed) or maximum length (variable, ended by a group separator or the end).
  const AI_FIXED = { "00": 18, "01": 14, "02": 14, "11": 6, "12": 6, "13": 6, "15": 6, "16": 6, "17": 6, "20": 2, "7003": 10 };
  const AI_VARIABLE = {
    "10": 20, "21": 20, "22": 20, "30": 8, "37": 8, "235": 28, "240": 30, "241": 30, "250": 30,
    "710": 20, "711": 20, "712": 20, "713": 20, "714": 20, "715": 20,
    "90": 30, "91": 90, "92": 90, "93": 90, "94": 90, "95": 90, "96": 90, "97": 90, "98": 90, "99": 90,
  };
  const GS = "\u001d";

  class CodeError extends Error {}

  /** The data length of a fixed-length AI (0 for variable-length or unknown AIs). */
  function fixedLength(ai) {
    if (ai in AI_FIXED) return AI_FIXED[ai];
    return /^3[1-6]\d\d$/.test(ai) ? 6 : 0;
  }

  function aiAt(text, i) {
    for (const length of [2, 3, 4]) {
      const ai = text.slice(i, i + length);
      if (ai in AI_FIXED || ai in AI_VARIABLE) return ai;
      if (length === 4 && /^3[1-6]\d\d$/.test(ai)) return ai; // measures: 310n-369n, 6 digits
    }
    return null;
  }

  /** Parses a GS1 element string, bracketed "(01)…(21)…" or raw with group separators; {ai: value}. */
  function parseElementString(raw) {
    let text = String(raw).trim().replace(/<GS>|\{GS\}|\[GS\]|\\x1d|\\u001d/gi, GS);
    text = text.replace(/^\][A-Za-z]\d/, ""); // symbology identifier (]d2 Data Matrix, ]Q3 QR, ]C1 GS1-128)
    text = text.replace(/^\u001d+/, ""); // leading FNC1
    const out = {};
    if (text.startsWith("(")) {
      const re = /\((\d{2,4})\)([^(\u001d]*)/g;
      let consumed = 0;
      let m;
      while ((m = re.exec(text)) !== null) {
        if (m.index !== consumed) break;
        const value = m[2].trim();
        const fixed = fixedLength(m[1]);
        if (fixed && value.length !== fixed) {
          throw new CodeError(`The code's (${m[1]}) part must have ${fixed} characters; it has ${value.length}.`);
        }
        out[m[1]] = value;
        consumed = re.lastIndex;
        while (text[consumed] === GS) consumed += 1;
        re.lastIndex = consumed;
      }
      if (consumed !== text.length || !Object.keys(out).length) {
        throw new CodeError("This code could not be read: expected (AI)value pairs such as (01)…(21)….");
      }
      return out;
    }
    if (!/^\d{2}/.test(text)) throw new CodeError("This does not look like a GS1 code or a Digital Link.");
    let i = 0;
    while (i < text.length) {
      const ai = aiAt(text, i);
      if (ai === null) throw new CodeError(`This code contains a part (starting “${text.slice(i, i + 4)}”) that this page cannot read.`);
      i += ai.length;
      let value;
      const fixed = fixedLength(ai);
      if (fixed) {
        value = text.slice(i, i + fixed);
        if (value.length !== fixed) throw new CodeError(`The code ends early: (${ai}) needs ${fixed} characters.`);
        i += fixed;
      } else {
        const end = text.indexOf(GS, i);
        const stop = end === -1 ? text.length : end;
        value = text.slice(i, stop);
        if (value.length > AI_VARIABLE[ai]) {
          throw new CodeError(`The code's (${ai}) part is too long; a separator may be missing in the pasted text.`);
        }
        i = stop;
      }
      while (text[i] === GS) i += 1;
      out[ai] = value;
    }
    return out;
  }

  // Digital Link 1.x short names, still printed on some packs.
  const DL_SHORT_NAMES = { gtin: "01", cpv: "22", lot: "10", ser: "21", exp: "17" };

  /** Parses a GS1 Digital Link URI (or just its path and query); {ai: value}. */
  function parseDigitalLink(raw) {
    let url;
    try {
      url = new URL(String(raw).trim(), "https://id.invalid");
    } catch (err) {
      throw new CodeError("This link could not be read.");
    }
    const segments = url.pathname.split("/").filter(Boolean).map((s) => {
      try {
        return decodeURIComponent(s);
      } catch (err) {
        throw new CodeError("This link contains a badly encoded character.");
      }
    });
    const keyOf = (s) => DL_SHORT_NAMES[s] || s;
    const start = segments.findIndex((s) => /^\d{2,4}$/.test(keyOf(s)) && ["00", "01", "414", "417", "8004", "8006"].includes(keyOf(s)));
    if (start === -1) throw new CodeError("This link is not a GS1 Digital Link: it has no /01/ product number.");
    const out = {};
    const rest = segments.slice(start);
    if (rest.length % 2 !== 0) throw new CodeError("This Digital Link is incomplete: a value is missing after its last part.");
    for (let i = 0; i < rest.length; i += 2) out[keyOf(rest[i])] = rest[i + 1];
    for (const [key, value] of url.searchParams) {
      const ai = keyOf(key);
      if (/^\d{2,4}$/.test(ai) && !(ai in out)) out[ai] = value;
    }
    return out;
  }

  /**
   * Reads a scanned or pasted code (Digital Link URI or GS1 element string) into the four fields
   * the page checks: {gtin, serial, lot, expiry}. Values are not validated here (validateCodes does).
   */
  function parseScanned(raw) {
    const text = String(raw || "").trim();
    if (!text) throw new CodeError("Paste the text of a scanned code first.");
    const isLink = /^https?:\/\//i.test(text) || /^\/?(01|gtin)\//i.test(text) || /\/(01|gtin)\/\d/i.test(text);
    const ais = isLink ? parseDigitalLink(text) : /^\d{8,14}$/.test(text) ? { "01": text } : parseElementString(text);
    if ("00" in ais && !("01" in ais)) {
      throw new CodeError("This code identifies a shipping case (SSCC), not a single pack. Scan the code on the pack itself.");
    }
    if (!("01" in ais)) throw new CodeError("This code has no product number (GTIN, (01)).");
    return { gtin: ais["01"] || "", serial: ais["21"] || "", lot: ais["10"] || "", expiry: ais["17"] || "" };
  }

  // --- talking to the gateway -------------------------------------------------------------------

  async function readBody(response) {
    const type = response.headers.get("content-type") || "";
    if (type.includes("json")) {
      try {
        return await response.json();
      } catch (err) {
        return null;
      }
    }
    return null;
  }

  /** Fetches JSON; resolves to {ok, status, body, retryAfter}; network failures become {ok: false, status: 0}. */
  async function request(url, options) {
    let response;
    try {
      response = await fetch(url, {
        credentials: "same-origin",
        cache: "no-store",
        ...options,
        headers: { Accept: "application/json", ...((options && options.headers) || {}) },
      });
    } catch (err) {
      return { ok: false, status: 0, body: null, retryAfter: null };
    }
    return { ok: response.ok, status: response.status, body: await readBody(response), retryAfter: response.headers.get("retry-after") };
  }

  function problemMessage(result, doing) {
    if (result.status === 0) return `Could not reach the verification service to ${doing}. Check your connection and try again.`;
    if (result.status === 429) {
      const seconds = Number(result.retryAfter);
      const wait = Number.isFinite(seconds) && seconds > 0 ? `in ${Math.ceil(seconds)} second${Math.ceil(seconds) === 1 ? "" : "s"}` : "in a moment";
      return `Too many checks from this connection. Please try again ${wait}.`;
    }
    const body = result.body || {};
    const text = body.detail || body.title;
    if (text) return result.status >= 500 ? `The verification service has a problem: ${text}` : text;
    return `The verification service answered with an error (HTTP ${result.status}). Please try again later.`;
  }

  // --- the verdict, in plain words --------------------------------------------------------------

  // Label, headline and what to do; the server's `message` says what was found.
  const VERDICTS = {
    authentic: {
      tone: "ok", icon: "i-ok", label: "Authentic", title: "Genuine product",
      advice: "If the pack looks damaged or different from usual, ask your pharmacist before using it.",
    },
    unknown: {
      tone: "bad", icon: "i-bad", label: "Not found", title: "Warning: possible counterfeit",
      advice: "Keep the pack, show it to your pharmacist and report it below.",
    },
    mismatch: {
      tone: "bad", icon: "i-bad", label: "Details do not match", title: "Warning: possible counterfeit",
      advice: "Check that you typed the batch and expiry exactly as printed; if they are right, keep the pack and report it below.",
    },
    recalled: {
      tone: "bad", icon: "i-stop", label: "Recalled", title: "Recalled: do not use",
      advice: "Return it to your pharmacy or the shop; they will replace it.",
    },
    expired: {
      tone: "warn", icon: "i-clock", label: "Expired", title: "Expired: do not use",
      advice: "Ask your pharmacist how to dispose of it safely.",
    },
    dispensed: {
      tone: "warn", icon: "i-warn", label: "Already dispensed", title: "This pack was already dispensed",
      advice: "If a pharmacy just gave it to you, this is expected. If you got it anywhere else, do not use it and report it below.",
    },
    quarantined: {
      tone: "warn", icon: "i-hold", label: "On hold", title: "On hold: do not use yet",
      advice: "Ask your pharmacist before using it.",
    },
  };

  // The server's clone/suspect signals, in plain words.
  const SIGNALS = {
    unknown_serial_of_known_gtin: "The product exists, but not with this serial number: a typical sign of a copied pack.",
    label_mismatch: "The batch or expiry printed on the pack differ from the manufacturer's record.",
    many_places: "This serial number was checked in several different places recently: copies of one genuine pack may be in circulation.",
    scanned_after_dispense: "This pack keeps being checked after it was handed out to a patient.",
  };

  // How each check reads; values: booleans, or match | mismatch | not_provided | not_recorded.
  const CHECK_WORDING = {
    gtin_known: ["Product number known to the network", "Product number not known to the network"],
    serial_registered: ["Serial number registered by the manufacturer", "Serial number not registered"],
    expired_by_date: ["Past its expiry date", "Within its expiry date"],
  };
  const COMPARISON_WORDING = {
    match: ["matches the manufacturer's record", true],
    mismatch: ["does not match the manufacturer's record", false],
    not_provided: ["not entered, so not compared", null],
    not_recorded: ["not on record, so not compared", null],
  };

  function verdictCopy(verdict) {
    return VERDICTS[verdict] || {
      tone: "warn", icon: "i-warn", label: String(verdict || "No answer"), title: "Could not confirm this product",
      advice: "Ask your pharmacist before using it.",
    };
  }

  function formatDate(value) {
    if (typeof value !== "string") return value == null ? "" : String(value);
    let m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
    if (!m && (m = /^(\d{2})(\d{2})(\d{2})$/.exec(value))) m = [value, String(gs1Year(Number(m[1]))), m[2], m[3]];
    if (!m) return value;
    const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
    const options = { year: "numeric", month: "long", timeZone: "UTC" };
    if (day === 0) return `end of ${new Date(Date.UTC(year, month - 1, 1)).toLocaleDateString(undefined, options)}`;
    return new Date(Date.UTC(year, month - 1, day)).toLocaleDateString(undefined, { ...options, day: "numeric" });
  }

  function humanise(key) {
    const text = String(key).replace(/[_-]+/g, " ").trim();
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  function signalText(signal) {
    if (signal == null) return "";
    if (typeof signal !== "object") return SIGNALS[signal] || humanise(signal);
    return signal.message || signal.detail || signal.title || (signal.code ? humanise(signal.code) : "");
  }

  // --- the page -----------------------------------------------------------------------------------

  function el(id) {
    return document.getElementById(id);
  }

  function make(tag, text, className) {
    const node = document.createElement(tag);
    if (text != null) node.textContent = text;
    if (className) node.className = className;
    return node;
  }

  const CODE_FIELDS = ["gtin", "serial", "lot", "expiry"];
  const state = { codes: null, busy: false, scanStream: null, scanTimer: 0 };

  function setStatus(text, isError) {
    const status = el("status");
    status.textContent = text || "";
    status.classList.toggle("is-error", Boolean(isError && text));
  }

  function setFieldError(field, message) {
    const input = el(field);
    const error = el(`${field}-error`);
    if (!input || !error) return false;
    error.textContent = message || "";
    error.hidden = !message;
    if (message) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
    return true;
  }

  function clearFieldErrors(fields) {
    fields.forEach((field) => setFieldError(field, ""));
  }

  /** The page field a problem's `field` names (e.g. "gtin", "query.gtin", "body.description"). */
  function pageField(field, prefix) {
    if (!field) return null;
    const name = String(field).split(".").pop();
    const id = prefix ? `${prefix}-${name}` : name;
    return el(id) ? id : null;
  }

  function setBusy(busy) {
    state.busy = busy;
    ["codes-submit", "paste-submit"].forEach((id) => {
      el(id).disabled = busy;
    });
    el("result").setAttribute("aria-busy", busy ? "true" : "false");
  }

  function fillForm(codes) {
    CODE_FIELDS.forEach((field) => {
      el(field).value = codes[field] || "";
    });
  }

  function renderFacts(body, codes) {
    const facts = el("facts");
    facts.replaceChildren();
    const product = body.product || {};
    const rows = [
      ["Product", product.product_name],
      ["Manufacturer", product.manufacturer],
      ["GTIN", product.gtin || (codes && codes.gtin)],
      ["Serial number", codes && codes.serial],
      ["Batch / lot", product.lot || (codes && codes.lot)],
      ["Expiry", formatDate(product.expiry || (codes && codes.expiry) || "")],
    ];
    for (const [name, value] of rows) {
      if (value == null || value === "") continue;
      facts.append(make("dt", name), make("dd", String(value)));
    }
  }

  /** One check as [text, passed (true | false | null)]. */
  function checkLine(key, value) {
    if (key in CHECK_WORDING && typeof value === "boolean") {
      const [yes, no] = CHECK_WORDING[key];
      const passed = key === "expired_by_date" ? !value : value;
      return [value ? yes : no, passed];
    }
    if ((key === "lot" || key === "expiry") && value in COMPARISON_WORDING) {
      const [words, passed] = COMPARISON_WORDING[value];
      return [`${key === "lot" ? "Batch / lot" : "Expiry date"} ${words}`, passed];
    }
    if (key === "status") return [value ? `Status in the supply chain: ${humanise(value).toLowerCase()}` : "No status on record", null];
    if (typeof value === "boolean") return [`${humanise(key)}: ${value ? "yes" : "no"}`, value];
    if (value == null || typeof value !== "object") return [`${humanise(key)}: ${value == null ? "not given" : value}`, null];
    return [humanise(key), null];
  }

  function renderChecks(checks) {
    const list = el("checks");
    list.replaceChildren();
    if (checks && typeof checks === "object") {
      for (const [key, value] of Object.entries(checks)) {
        const [text, passed] = checkLine(key, value);
        list.append(make("li", text, passed === true ? "pass" : passed === false ? "fail" : ""));
      }
    }
    el("checks-box").hidden = list.children.length === 0;
  }

  function renderVerdict(body, codes) {
    const copy = verdictCopy(body.verdict);
    const suspect = Boolean(body.suspect) || copy.tone === "bad";
    const region = el("result");
    region.setAttribute("aria-live", suspect ? "assertive" : "polite");
    const verdict = el("verdict");
    verdict.className = `verdict tone-${copy.tone}`;
    verdict.dataset.verdict = String(body.verdict || "");
    verdict.dataset.suspect = suspect ? "true" : "false";
    el("verdict-icon").setAttribute("href", `#${copy.icon}`);
    el("verdict-label").textContent = copy.label;
    el("verdict-title").textContent = copy.title;
    el("verdict-message").textContent = body.message || "";
    el("verdict-advice").textContent = copy.advice;
    const signals = el("verdict-signals");
    signals.replaceChildren();
    for (const signal of Array.isArray(body.signals) ? body.signals : []) {
      const text = signalText(signal);
      if (text) signals.append(make("li", text));
    }
    signals.hidden = signals.children.length === 0;
    renderFacts(body, codes);
    renderChecks(body.checks);
    const when = body.checked_at ? new Date(body.checked_at) : null;
    const parts = [];
    if (when && !Number.isNaN(when.getTime())) parts.push(`Checked ${when.toLocaleString()}`);
    if (body.data_as_of_block != null) parts.push(`ledger data as of block ${body.data_as_of_block}`);
    el("provenance").textContent = parts.join(", ");
    const reportButton = el("report-open");
    reportButton.classList.toggle("secondary", !suspect);
    reportButton.disabled = !(codes && codes.gtin && codes.serial);
    region.hidden = false;
    el("verdict-title").focus();
  }

  async function check(url, codes) {
    if (state.busy) return;
    state.codes = codes;
    closeReport();
    setBusy(true);
    setStatus("Checking the product…");
    const result = await request(url);
    setBusy(false);
    if (result.ok && result.body && typeof result.body.verdict === "string") {
      setStatus("");
      renderVerdict(result.body, codes);
      return;
    }
    el("result").hidden = true;
    const field = pageField(result.body && result.body.field);
    if (field && result.status >= 400 && result.status < 500) setFieldError(field, problemMessage(result, "check"));
    setStatus(result.ok ? "The verification service gave an answer this page does not understand." : problemMessage(result, "check the product"), true);
  }

  function checkCodes(input) {
    clearFieldErrors(CODE_FIELDS);
    const validation = validateCodes(input);
    if (!validation.ok) {
      let first = null;
      for (const field of CODE_FIELDS) {
        if (field in validation.errors) {
          setFieldError(field, validation.errors[field]);
          first = first || field;
        }
      }
      setStatus("Please correct the highlighted code.", true);
      el(first).focus();
      return false;
    }
    const codes = validation.values;
    const query = new URLSearchParams({ gtin: codes.gtin, serial: codes.serial });
    if (codes.lot) query.set("lot", codes.lot);
    if (codes.expiry) query.set("expiry", codes.expiry);
    check(`/v1/verify?${query}`, codes);
    return true;
  }

  function onCodesSubmit(event) {
    event.preventDefault();
    const input = {};
    CODE_FIELDS.forEach((field) => {
      input[field] = el(field).value;
    });
    checkCodes(input);
  }

  function readScanned(text) {
    setFieldError("scanned", "");
    let codes;
    try {
      codes = parseScanned(text);
    } catch (err) {
      if (!(err instanceof CodeError)) throw err;
      setFieldError("scanned", err.message);
      setStatus("");
      el("scanned").focus();
      return;
    }
    fillForm(codes);
    checkCodes(codes);
  }

  function onPasteSubmit(event) {
    event.preventDefault();
    readScanned(el("scanned").value);
  }

  // --- reporting a suspect product ----------------------------------------------------------------

  // ISO 3166-1 alpha-2 codes; the browser supplies their names in the reader's language.
  const COUNTRIES = (
    "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ " +
    "CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO " +
    "FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE " +
    "JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO " +
    "MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW " +
    "PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM " +
    "TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW"
  ).split(" ");

  function fillCountries() {
    let names = null;
    try {
      names = new Intl.DisplayNames(navigator.languages && navigator.languages.length ? navigator.languages : ["en"], { type: "region" });
    } catch (err) {
      names = null;
    }
    const named = COUNTRIES.map((code) => [code, (names && names.of(code)) || code]);
    named.sort((a, b) => a[1].localeCompare(b[1]));
    const select = el("report-place");
    for (const [code, name] of named) {
      const option = make("option", name);
      option.value = code;
      select.append(option);
    }
  }

  function openReport() {
    const codes = state.codes;
    if (!codes) return;
    const parts = [`GTIN ${codes.gtin}`, `serial ${codes.serial}`];
    if (codes.lot) parts.push(`lot ${codes.lot}`);
    if (codes.expiry) parts.push(`expiry ${formatDate(codes.expiry)}`);
    el("report-codes").textContent = `About the pack with ${parts.join(", ")}.`;
    el("report-form").hidden = false;
    el("report-done").hidden = true;
    el("report").hidden = false;
    el("report-description").focus();
  }

  function closeReport() {
    el("report").hidden = true;
    el("report-form").reset();
    clearFieldErrors(["report-description", "report-place"]);
  }

  async function onReportSubmit(event) {
    event.preventDefault();
    clearFieldErrors(["report-description", "report-place"]);
    const codes = state.codes;
    const description = el("report-description").value.trim();
    const place = el("report-place").value;
    if (!description) {
      setFieldError("report-description", "Describe what looks wrong with the product.");
      el("report-description").focus();
      return;
    }
    const body = { gtin: codes.gtin, serial: codes.serial, description };
    if (codes.lot) body.lot = codes.lot;
    if (codes.expiry) body.expiry = codes.expiry;
    if (place) body.place = place;
    const submit = el("report-submit");
    submit.disabled = true;
    const result = await request("/v1/verify/reports", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    submit.disabled = false;
    if (result.status === 201 && result.body && result.body.report_id != null) {
      el("report-form").hidden = true;
      el("report-form").reset();
      const done = el("report-done");
      done.hidden = false;
      const confirmation = el("report-confirmation");
      confirmation.textContent = `Thank you: your report has been sent. Its reference is ${result.body.report_id}.`;
      confirmation.focus();
      return;
    }
    const message = problemMessage(result, "send the report");
    const field = pageField(result.body && result.body.field, "report");
    if (!field || !setFieldError(field, message)) setFieldError("report-description", message);
  }

  // --- camera scanning (BarcodeDetector, where the browser has it) ------------------------------

  const SCAN_FORMATS = ["qr_code", "data_matrix"];

  async function scanFormats() {
    if (!("BarcodeDetector" in window) || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return [];
    try {
      const supported = await window.BarcodeDetector.getSupportedFormats();
      return SCAN_FORMATS.filter((format) => supported.includes(format));
    } catch (err) {
      return [];
    }
  }

  function stopScan() {
    window.clearTimeout(state.scanTimer);
    if (state.scanStream) state.scanStream.getTracks().forEach((track) => track.stop());
    state.scanStream = null;
    const video = el("scan-video");
    video.pause();
    video.srcObject = null;
    el("scanner").hidden = true;
    el("scan-start").hidden = false;
  }

  async function startScan(formats) {
    setStatus("");
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: { ideal: "environment" } }, audio: false });
    } catch (err) {
      setStatus("The camera could not be opened. Allow camera access, or type the codes instead.", true);
      return;
    }
    const detector = new window.BarcodeDetector({ formats });
    const video = el("scan-video");
    state.scanStream = stream;
    video.srcObject = stream;
    el("scan-start").hidden = true;
    el("scanner").hidden = false;
    try {
      await video.play();
    } catch (err) {
      // autoplay of a muted inline video is allowed; keep going, detect() retries
    }
    const tick = async () => {
      if (!state.scanStream) return;
      let found = [];
      try {
        if (video.readyState >= 2) found = await detector.detect(video);
      } catch (err) {
        found = [];
      }
      const code = found.find((barcode) => barcode && barcode.rawValue);
      if (code) {
        stopScan();
        el("scanned").value = code.rawValue;
        readScanned(code.rawValue);
        return;
      }
      state.scanTimer = window.setTimeout(tick, 250);
    };
    tick();
  }

  async function setUpScanner() {
    const formats = await scanFormats();
    if (!formats.length) return; // no BarcodeDetector (or no QR/Data Matrix): the button stays hidden
    el("scan-panel").hidden = false;
    el("scan-start").addEventListener("click", () => startScan(formats));
    el("scan-stop").addEventListener("click", stopScan);
    window.addEventListener("pagehide", stopScan);
  }

  // --- start --------------------------------------------------------------------------------------

  /** On a Digital Link path, the page asks that same URL for the verdict; on /verify?gtin=… it checks those. */
  function checkFromLocation() {
    const path = window.location.pathname;
    if (/\/(01|gtin)\/[^/]+/.test(path)) {
      let codes = null;
      try {
        codes = parseDigitalLink(path + window.location.search);
        codes = { gtin: codes["01"] || "", serial: codes["21"] || "", lot: codes["10"] || "", expiry: codes["17"] || "" };
        fillForm(codes);
      } catch (err) {
        if (!(err instanceof CodeError)) throw err;
      }
      // linkType picks what the resolver answers (gs1:pip: this page); Accept: application/json asks for the verdict
      const query = new URLSearchParams(window.location.search);
      query.delete("linkType");
      const search = query.toString();
      check(search ? `${path}?${search}` : path, codes && codes.gtin && codes.serial ? codes : null);
      return;
    }
    const params = new URLSearchParams(window.location.search);
    if (params.get("gtin") || params.get("serial")) {
      const input = {};
      CODE_FIELDS.forEach((field) => {
        input[field] = params.get(field) || "";
      });
      fillForm(input);
      checkCodes(input);
    }
  }

  function start() {
    el("codes-form").addEventListener("submit", onCodesSubmit);
    el("paste-form").addEventListener("submit", onPasteSubmit);
    el("report-open").addEventListener("click", openReport);
    el("report-cancel").addEventListener("click", () => {
      closeReport();
      el("report-open").focus();
    });
    el("report-form").addEventListener("submit", onReportSubmit);
    el("check-another").addEventListener("click", () => {
      closeReport();
      el("gtin").focus();
      el("entry").scrollIntoView({ block: "start" });
    });
    fillCountries();
    setUpScanner();
    checkFromLocation();
  }

  window.CustodyVerify = Object.freeze({
    gs1CheckDigit, validateGtin, validateExpiry, validateCodes, parseElementString, parseDigitalLink, parseScanned,
    CodeError,
  });

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
