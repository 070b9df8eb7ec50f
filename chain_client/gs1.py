"""GS1 identifiers: validation, EPC pure-identity URNs, GS1 Digital Link URIs and barcode scans.

Pure module: no web3, no I/O. Everything that rejects input raises :class:`GS1Error`
(a ``ValueError``) carrying a stable ``code`` and the ``field`` that was wrong, so the HTTP
layer can turn it into a 422 problem+json response.

What comes from ``biip`` (pinned in pyproject) and what is written here:

* biip: the GS1 mod-10 check digit (:func:`biip.checksums.gs1_standard_check_digit`), splitting
  barcode scans into element strings (raw FNC1/GS-separated and HRI ``(01)...`` forms,
  :class:`biip.gs1_messages.GS1Message`), symbology identifiers (``]C1``, ``]d2``, ``]Q3``...),
  the Application Identifier table and the format check of AIs without a dedicated field here
  (e.g. ``3103``, ``02``, ``37``).
* here: ASCII-only length/charset checks with precise error codes (biip accepts any Unicode
  decimal digit and strips whitespace), GTIN-14 normalisation, the GS1 date rules with an
  injectable ``today``, EPC Tag Data Standard URNs (biip has none), and the GS1 Digital Link
  parser/builder. biip 5.2.0 has a Digital Link parser, but it accepts a wrong GTIN check
  digit (it only records ``gtin_error``), accepts key qualifiers such as ``21`` in the query
  string, decodes ``+`` in the query as a space (``+`` is a legal lot/serial character), and
  finds the primary key by scanning the path from the left, so a path prefix segment such as
  ``/00/`` breaks it; it is therefore not used for Digital Link.

Standards: GS1 General Specifications (7.9 check digits, 7.11 character
set 82, 7.12 century of two-digit years), EPC Tag Data Standard (pure-identity URIs and their
escaping), GS1 Digital Link URI syntax (uncompressed form).
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias, TypeVar
from urllib.parse import quote, unquote, urlsplit

from biip import ParseConfig, ParseError
from biip.checksums import gs1_standard_check_digit
from biip.gs1_application_identifiers import GS1ApplicationIdentifier
from biip.gs1_element_strings import GS1ElementString
from biip.gs1_messages import GS1Message
from biip.symbology import GS1Symbology, SymbologyIdentifier
from eth_utils.crypto import keccak

__all__ = [
    "DEFAULT_COMPANY_PREFIX_LENGTH",
    "DEFAULT_DIGITAL_LINK_BASE",
    "EPC_URN_ESCAPES",
    "GS1_CSET82",
    "DigitalLink",
    "EpcIdentifier",
    "GS1Error",
    "GS1ErrorCode",
    "Gln",
    "Gs1Data",
    "Gs1Date",
    "Gtin",
    "Lgtin",
    "Sgln",
    "Sgtin",
    "Sscc",
    "build_digital_link",
    "epc_escape",
    "epc_unescape",
    "format_gs1_date",
    "gs1_check_digit",
    "object_id",
    "parse_digital_link",
    "parse_element_strings",
    "parse_epc_urn",
    "parse_gs1_date",
    "parse_scan",
    "validate_company_prefix_length",
    "validate_gln",
    "validate_gtin",
    "validate_lot",
    "validate_serial",
    "validate_sscc",
]

# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------

GS1ErrorCode: TypeAlias = Literal[
    "gs1.check_digit",  # mod-10 check digit does not match
    "gs1.length",  # wrong number of characters
    "gs1.charset",  # character outside digits / GS1 character set 82
    "gs1.date",  # not a valid YYMMDD date, or outside the GS1 two-digit-year window
    "gs1.company_prefix",  # GS1 Company Prefix length outside 6..12
    "gs1.digital_link",  # structurally invalid GS1 Digital Link URI
    "gs1.epc_urn",  # structurally invalid / unsupported EPC URN
    "gs1.element_string",  # barcode scan that cannot be split into GS1 element strings
    "gs1.ai",  # unknown Application Identifier or a value not matching its format
]


class GS1Error(ValueError):
    """Invalid GS1 input.

    ``code`` is stable (see :data:`GS1ErrorCode`); ``field`` names the offending input
    (``"gtin"``, ``"serial"``, ``"expiry_date"``, ``"digital_link"``, ``"ai.3103"``...);
    ``message`` is human readable and may change.
    """

    def __init__(self, code: GS1ErrorCode, field: str, message: str) -> None:
        super().__init__(message)
        self.code: GS1ErrorCode = code
        self.field: str = field
        self.message: str = message

    def __reduce__(self) -> tuple[type[GS1Error], tuple[GS1ErrorCode, str, str]]:
        return (type(self), (self.code, self.field, self.message))

    def __repr__(self) -> str:
        return f"GS1Error(code={self.code!r}, field={self.field!r}, message={self.message!r})"


def _show(value: str, limit: int = 40) -> str:
    """repr() of user input, truncated so that error messages stay small."""
    return repr(value if len(value) <= limit else value[:limit] + "...")


# --------------------------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------------------------

#: GS1 AI encodable character set 82 (GS1 General Specifications, figure 7.11-1), in code
#: point order: ! " % & ' ( ) * + , - . / 0-9 : ; < = > ? A-Z _ a-z
GS1_CSET82: Final[str] = "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
_CSET82: Final[frozenset[str]] = frozenset(GS1_CSET82)

#: Characters of set 82 that EPC pure-identity URIs must percent-escape (Tag Data Standard).
EPC_URN_ESCAPES: Final[dict[str, str]] = {
    '"': "%22",
    "%": "%25",
    "&": "%26",
    "/": "%2F",
    "<": "%3C",
    ">": "%3E",
    "?": "%3F",
}
_EPC_URN_UNESCAPES: Final[dict[str, str]] = {v: k for k, v in EPC_URN_ESCAPES.items()}

DEFAULT_COMPANY_PREFIX_LENGTH: Final[int] = 7
DEFAULT_DIGITAL_LINK_BASE: Final[str] = "https://id.gs1.org"

_MAX_X20: Final[int] = 20  # serial (21), lot (10), CPV (22), GLN extension (254): X..20

_DATE_AIS: Final[dict[str, str]] = {
    "11": "production_date",
    "15": "best_before_date",
    "17": "expiry_date",
}

# AIs that have a dedicated field in Gs1Data (everything else goes into Gs1Data.attributes).
_DEDICATED_AIS: Final[frozenset[str]] = frozenset({"00", "01", "414", "10", "21", "22", "254", *_DATE_AIS})

# GS1 Digital Link: supported primary keys and their key qualifiers, in the mandatory order.
_DL_PRIMARY: Final[dict[str, tuple[str, ...]]] = {
    "01": ("22", "10", "21"),
    "00": (),
    "414": ("254",),
}
# Every primary key / key qualifier of the Digital Link standard, used to walk the path and to
# report "unsupported" instead of "garbage" for keys this module does not handle.
_DL_ALL_PRIMARY: Final[frozenset[str]] = frozenset(
    {
        "01",
        "8006",
        "8013",
        "8010",
        "414",
        "415",
        "417",
        "8017",
        "8018",
        "255",
        "00",
        "253",
        "401",
        "402",
        "8003",
        "8004",
    }
)
_DL_ALL_QUALIFIERS: Final[frozenset[str]] = frozenset({"22", "10", "21", "235", "8011", "254", "8020", "8019", "7040"})

# biip is asked not to check dates: parse_gs1_date does, with precise errors and `today`.
_BIIP_CONFIG: Final[ParseConfig] = ParseConfig(gs1_element_strings_verify_date=False)
_BIIP_STRICT_CONFIG: Final[ParseConfig] = ParseConfig()


def _is_digits(value: str) -> bool:
    """ASCII 0-9 only (str.isdigit() alone also accepts e.g. Arabic-Indic digits)."""
    return value.isascii() and value.isdigit()


def _utc_today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


# --------------------------------------------------------------------------------------------
# Check digits and keys
# --------------------------------------------------------------------------------------------


def gs1_check_digit(payload: str) -> int:
    """GS1 mod-10 check digit of ``payload`` (the key without its check digit).

    Weights 3,1,3,... from the right (GS1 General Specifications 7.9.1); computed by biip.
    """
    if not payload or not _is_digits(payload):
        raise GS1Error("gs1.charset", "payload", f"check digit payload must be ASCII digits, got {_show(payload)}")
    return gs1_standard_check_digit(payload)


def _validate_numeric_key(value: str, *, field: str, name: str, lengths: tuple[int, ...]) -> str:
    if not isinstance(value, str):
        raise GS1Error("gs1.charset", field, f"{name} must be a string of digits")
    if not (value == "" or _is_digits(value)):
        raise GS1Error("gs1.charset", field, f"{name} must contain only digits 0-9, got {_show(value)}")
    if len(value) not in lengths:
        expected = ", ".join(str(n) for n in lengths)
        raise GS1Error("gs1.length", field, f"{name} must have {expected} digits, got {len(value)}")
    expected_cd = gs1_standard_check_digit(value[:-1])
    if int(value[-1]) != expected_cd:
        raise GS1Error(
            "gs1.check_digit",
            field,
            f"invalid {name} check digit in {value}: expected {expected_cd}, got {value[-1]}",
        )
    return value


def validate_gtin(value: str, *, field: str = "gtin") -> str:
    """Validate a GTIN-8/12/13/14 and return it normalised to GTIN-14 (left zero padding)."""
    return _validate_numeric_key(value, field=field, name="GTIN", lengths=(8, 12, 13, 14)).zfill(14)


def validate_gln(value: str, *, field: str = "gln") -> str:
    """Validate a 13-digit GLN and return it."""
    return _validate_numeric_key(value, field=field, name="GLN", lengths=(13,))


def validate_sscc(value: str, *, field: str = "sscc") -> str:
    """Validate an 18-digit SSCC and return it."""
    return _validate_numeric_key(value, field=field, name="SSCC", lengths=(18,))


def _validate_x(value: str, *, field: str, name: str, max_length: int = _MAX_X20) -> str:
    if not isinstance(value, str):
        raise GS1Error("gs1.charset", field, f"{name} must be a string")
    if not 1 <= len(value) <= max_length:
        raise GS1Error("gs1.length", field, f"{name} must be 1-{max_length} characters, got {len(value)}")
    bad = sorted({c for c in value if c not in _CSET82})
    if bad:
        shown = " ".join(repr(c) for c in bad[:5])
        raise GS1Error(
            "gs1.charset",
            field,
            f"{name} contains characters outside GS1 character set 82: {shown}",
        )
    return value


def validate_serial(value: str, *, field: str = "serial") -> str:
    """Validate a serial number (AI 21): 1-20 characters of GS1 character set 82."""
    return _validate_x(value, field=field, name="serial number")


def validate_lot(value: str, *, field: str = "lot") -> str:
    """Validate a batch/lot number (AI 10): 1-20 characters of GS1 character set 82."""
    return _validate_x(value, field=field, name="batch/lot number")


def validate_company_prefix_length(length: int, *, field: str = "company_prefix_length") -> int:
    """A GS1 Company Prefix has 6 to 12 digits."""
    if isinstance(length, bool) or not isinstance(length, int) or not 6 <= length <= 12:
        raise GS1Error("gs1.company_prefix", field, f"GS1 Company Prefix length must be 6-12, got {length!r}")
    return length


# --------------------------------------------------------------------------------------------
# Dates (AI 11 production, 15 best before, 17 expiry): YYMMDD
# --------------------------------------------------------------------------------------------


def _resolve_year(two_digit_year: int, today: dt.date) -> int:
    """GS1 General Specifications 7.12: sliding window of 49 years back, 50 years ahead."""
    current_yy = today.year % 100
    century = today.year - current_yy
    diff = two_digit_year - current_yy
    if 51 <= diff <= 99:
        century -= 100
    elif -99 <= diff <= -50:
        century += 100
    return century + two_digit_year


@dataclass(frozen=True, slots=True)
class Gs1Date:
    """A GS1 YYMMDD date.

    ``date`` is the resolved calendar date. ``day_specified`` is False when the encoded day
    was ``00`` ("last day of the month"); ``date`` then holds that last day and :attr:`yymmdd`
    gives ``00`` back, so the printed value survives a round trip.
    """

    date: dt.date
    day_specified: bool = True

    def __post_init__(self) -> None:
        if not self.day_specified:
            last = calendar.monthrange(self.date.year, self.date.month)[1]
            if self.date.day != last:
                raise GS1Error("gs1.date", "date", "a date without day (DD=00) must be the last day of its month")

    @classmethod
    def parse(cls, value: str, *, field: str = "date", today: dt.date | None = None) -> Gs1Date:
        """Parse YYMMDD; DD=00 means the last day of the month; century per GS1 GenSpecs 7.12."""
        if not isinstance(value, str) or len(value) != 6 or not _is_digits(value):
            shown = _show(value) if isinstance(value, str) else repr(value)
            raise GS1Error("gs1.date", field, f"date must be 6 digits YYMMDD, got {shown}")
        yy, mm, dd = int(value[0:2]), int(value[2:4]), int(value[4:6])
        if not 1 <= mm <= 12:
            raise GS1Error("gs1.date", field, f"invalid month {value[2:4]} in {value}")
        year = _resolve_year(yy, today if today is not None else _utc_today())
        last = calendar.monthrange(year, mm)[1]
        if dd == 0:
            return cls(dt.date(year, mm, last), day_specified=False)
        if dd > last:
            raise GS1Error("gs1.date", field, f"day {value[4:6]} does not exist in {year:04d}-{mm:02d}")
        return cls(dt.date(year, mm, dd))

    @property
    def yymmdd(self) -> str:
        """The YYMMDD encoding (no window check; see :func:`format_gs1_date`)."""
        day = self.date.day if self.day_specified else 0
        return f"{self.date.year % 100:02d}{self.date.month:02d}{day:02d}"


def parse_gs1_date(value: str, *, field: str = "date", today: dt.date | None = None) -> dt.date:
    """Parse a GS1 YYMMDD date to a calendar date (DD=00 -> last day of the month).

    The century follows GS1 General Specifications 7.12 relative to ``today`` (default: the
    current UTC date): the result lies between ``today.year - 49`` and ``today.year + 50``.
    """
    return Gs1Date.parse(value, field=field, today=today).date


def format_gs1_date(value: dt.date | Gs1Date, *, field: str = "date", today: dt.date | None = None) -> str:
    """Encode a date as YYMMDD.

    Rejects years that a reader would resolve to another century (outside
    ``today.year - 49 .. today.year + 50``). A :class:`Gs1Date` without day encodes as ``..00``.
    """
    gdate = value if isinstance(value, Gs1Date) else Gs1Date(value)
    year = gdate.date.year
    ref = today if today is not None else _utc_today()
    if not ref.year - 49 <= year <= ref.year + 50:
        raise GS1Error(
            "gs1.date",
            field,
            f"year {year} cannot be written as YY: outside {ref.year - 49}-{ref.year + 50} "
            "(GS1 General Specifications 7.12)",
        )
    return gdate.yymmdd


# --------------------------------------------------------------------------------------------
# EPC URN escaping (Tag Data Standard)
# --------------------------------------------------------------------------------------------


def epc_escape(value: str) -> str:
    """Percent-escape ``" % & / < > ?`` for use in an EPC pure-identity URN component."""
    return "".join(EPC_URN_ESCAPES.get(c, c) for c in value)


def epc_unescape(value: str, *, field: str = "serial") -> str:
    """Undo :func:`epc_escape`, strictly.

    Only the seven escapes of the Tag Data Standard grammar are accepted (uppercase hex, as the
    grammar spells them), and those seven characters must not appear unescaped; so the parse of
    a valid URN is unique and re-encodes to the same string.
    """
    out: list[str] = []
    i = 0
    while i < len(value):
        char = value[i]
        if char == "%":
            seq = value[i : i + 3]
            decoded = _EPC_URN_UNESCAPES.get(seq)
            if decoded is None:
                raise GS1Error(
                    "gs1.epc_urn",
                    field,
                    f"invalid escape {seq!r} in EPC URN; allowed: {' '.join(_EPC_URN_UNESCAPES)}",
                )
            out.append(decoded)
            i += 3
        elif char in EPC_URN_ESCAPES:
            raise GS1Error(
                "gs1.epc_urn",
                field,
                f"character {char!r} must be escaped as {EPC_URN_ESCAPES[char]} in an EPC URN",
            )
        else:
            out.append(char)
            i += 1
    return "".join(out)


# --------------------------------------------------------------------------------------------
# Identifier types
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Gtin:
    """A GTIN, stored as GTIN-14 (GTIN-8/12/13 input is zero-padded).

    ``company_prefix_length`` (6-12) is only used to split the GTIN for EPC URNs; it is part of
    equality because it changes the URN (and hence :func:`object_id`).
    """

    value: str
    company_prefix_length: int = DEFAULT_COMPANY_PREFIX_LENGTH

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", validate_gtin(self.value))
        validate_company_prefix_length(self.company_prefix_length)

    @property
    def indicator(self) -> str:
        """Indicator digit (packaging level), first digit of the GTIN-14."""
        return self.value[0]

    @property
    def company_prefix(self) -> str:
        return self.value[1 : 1 + self.company_prefix_length]

    @property
    def item_reference(self) -> str:
        return self.value[1 + self.company_prefix_length : 13]

    @property
    def check_digit(self) -> int:
        return int(self.value[13])

    @property
    def epc_key(self) -> str:
        """``CompanyPrefix.IndicatorItemRef`` as used in SGTIN/LGTIN URNs."""
        return f"{self.company_prefix}.{self.indicator}{self.item_reference}"

    @property
    def epc_urn(self) -> str:
        """EPC pattern URI for every instance of this GTIN: ``urn:epc:idpat:sgtin:CP.IIR.*``
        (the EPCIS ``epcClass`` form for class-level quantities without lot)."""
        return f"urn:epc:idpat:sgtin:{self.epc_key}.*"

    @property
    def object_id(self) -> bytes:
        return object_id(self.epc_urn)

    def digital_link(self, base: str = DEFAULT_DIGITAL_LINK_BASE) -> str:
        return build_digital_link(Gs1Data(gtin=self), base=base)

    @classmethod
    def from_epc_urn(cls, urn: str) -> Gtin:
        return _expect_kind(parse_epc_urn(urn), cls, "urn:epc:idpat:sgtin:")


@dataclass(frozen=True, slots=True)
class Gln:
    """A 13-digit Global Location Number; ``company_prefix_length`` as for :class:`Gtin`."""

    value: str
    company_prefix_length: int = DEFAULT_COMPANY_PREFIX_LENGTH

    def __post_init__(self) -> None:
        validate_gln(self.value)
        validate_company_prefix_length(self.company_prefix_length)

    @property
    def company_prefix(self) -> str:
        return self.value[: self.company_prefix_length]

    @property
    def location_reference(self) -> str:
        """Location reference; empty when the company prefix has 12 digits."""
        return self.value[self.company_prefix_length : 12]

    @property
    def epc_urn(self) -> str:
        """``urn:epc:id:sgln:CP.LocationRef.0`` (extension ``0`` = no extension, per TDS)."""
        return Sgln(self).epc_urn

    @property
    def object_id(self) -> bytes:
        return object_id(self.epc_urn)

    def digital_link(self, base: str = DEFAULT_DIGITAL_LINK_BASE) -> str:
        return build_digital_link(Gs1Data(gln=self), base=base)


@dataclass(frozen=True, slots=True)
class Sscc:
    """An 18-digit Serial Shipping Container Code; ``company_prefix_length`` as for :class:`Gtin`."""

    value: str
    company_prefix_length: int = DEFAULT_COMPANY_PREFIX_LENGTH

    def __post_init__(self) -> None:
        validate_sscc(self.value)
        validate_company_prefix_length(self.company_prefix_length)

    @property
    def extension_digit(self) -> str:
        return self.value[0]

    @property
    def company_prefix(self) -> str:
        return self.value[1 : 1 + self.company_prefix_length]

    @property
    def serial_reference(self) -> str:
        """Extension digit followed by the serial reference, as in the EPC URN."""
        return self.value[0] + self.value[1 + self.company_prefix_length : 17]

    @property
    def epc_urn(self) -> str:
        return f"urn:epc:id:sscc:{self.company_prefix}.{self.serial_reference}"

    @property
    def object_id(self) -> bytes:
        return object_id(self.epc_urn)

    def digital_link(self, base: str = DEFAULT_DIGITAL_LINK_BASE) -> str:
        return build_digital_link(Gs1Data(sscc=self), base=base)

    @classmethod
    def from_epc_urn(cls, urn: str) -> Sscc:
        return _expect_kind(parse_epc_urn(urn), cls, "urn:epc:id:sscc:")


@dataclass(frozen=True, slots=True)
class Sgtin:
    """Serialised GTIN (AI 01 + AI 21)."""

    gtin: Gtin
    serial: str

    def __post_init__(self) -> None:
        validate_serial(self.serial)

    @property
    def epc_urn(self) -> str:
        return f"urn:epc:id:sgtin:{self.gtin.epc_key}.{epc_escape(self.serial)}"

    @property
    def object_id(self) -> bytes:
        return object_id(self.epc_urn)

    def digital_link(self, base: str = DEFAULT_DIGITAL_LINK_BASE) -> str:
        return build_digital_link(Gs1Data(gtin=self.gtin, serial=self.serial), base=base)

    @classmethod
    def from_epc_urn(cls, urn: str) -> Sgtin:
        return _expect_kind(parse_epc_urn(urn), cls, "urn:epc:id:sgtin:")


@dataclass(frozen=True, slots=True)
class Lgtin:
    """GTIN + batch/lot (AI 01 + AI 10): the EPC class ``urn:epc:class:lgtin:``."""

    gtin: Gtin
    lot: str

    def __post_init__(self) -> None:
        validate_lot(self.lot)

    @property
    def epc_urn(self) -> str:
        return f"urn:epc:class:lgtin:{self.gtin.epc_key}.{epc_escape(self.lot)}"

    @property
    def object_id(self) -> bytes:
        return object_id(self.epc_urn)

    def digital_link(self, base: str = DEFAULT_DIGITAL_LINK_BASE) -> str:
        return build_digital_link(Gs1Data(gtin=self.gtin, lot=self.lot), base=base)

    @classmethod
    def from_epc_urn(cls, urn: str) -> Lgtin:
        return _expect_kind(parse_epc_urn(urn), cls, "urn:epc:class:lgtin:")


@dataclass(frozen=True, slots=True)
class Sgln:
    """GLN with optional extension component (AI 414 + AI 254).

    The Tag Data Standard writes "no extension" as ``0``, so an extension of ``"0"`` is
    normalised to ``None``.
    """

    gln: Gln
    extension: str | None = None

    def __post_init__(self) -> None:
        if self.extension is not None:
            _validate_x(self.extension, field="gln_extension", name="GLN extension")
            if self.extension == "0":
                object.__setattr__(self, "extension", None)

    @property
    def epc_urn(self) -> str:
        g = self.gln
        ext = epc_escape(self.extension) if self.extension is not None else "0"
        return f"urn:epc:id:sgln:{g.company_prefix}.{g.location_reference}.{ext}"

    @property
    def object_id(self) -> bytes:
        return object_id(self.epc_urn)

    def digital_link(self, base: str = DEFAULT_DIGITAL_LINK_BASE) -> str:
        return build_digital_link(Gs1Data(gln=self.gln, gln_extension=self.extension), base=base)

    @classmethod
    def from_epc_urn(cls, urn: str) -> Sgln:
        return _expect_kind(parse_epc_urn(urn), cls, "urn:epc:id:sgln:")


EpcIdentifier: TypeAlias = Gtin | Sgtin | Lgtin | Sscc | Sgln


_T = TypeVar("_T")


def _expect_kind(ident: EpcIdentifier, cls: type[_T], prefix: str) -> _T:
    if not isinstance(ident, cls):
        raise GS1Error("gs1.epc_urn", "epc_urn", f"expected an EPC URN starting with {prefix!r}")
    return ident


# --------------------------------------------------------------------------------------------
# EPC URNs
# --------------------------------------------------------------------------------------------


def _check_cp_split(cp: str, ref: str, *, total: int, ref_name: str) -> None:
    if not _is_digits(cp):
        raise GS1Error("gs1.epc_urn", "epc_urn", f"company prefix must be digits, got {_show(cp)}")
    validate_company_prefix_length(len(cp), field="company_prefix")
    if ref and not _is_digits(ref):
        raise GS1Error("gs1.epc_urn", "epc_urn", f"{ref_name} must be digits, got {_show(ref)}")
    if len(cp) + len(ref) != total:
        raise GS1Error(
            "gs1.epc_urn",
            "epc_urn",
            f"company prefix ({len(cp)} digits) + {ref_name} ({len(ref)} digits) must be {total} digits",
        )


def _gtin_from_epc(cp: str, iir: str) -> Gtin:
    _check_cp_split(cp, iir, total=13, ref_name="indicator + item reference")
    body = iir[0] + cp + iir[1:]
    return Gtin(body + str(gs1_standard_check_digit(body)), len(cp))


def _split3(body: str, layout: str) -> tuple[str, str, str]:
    parts = body.split(".", 2)
    if len(parts) != 3:
        raise GS1Error("gs1.epc_urn", "epc_urn", f"expected {layout} after the scheme")
    return parts[0], parts[1], parts[2]


def _parse_sgtin(body: str) -> Sgtin:
    cp, iir, serial = _split3(body, "CompanyPrefix.IndicatorItemRef.Serial")
    return Sgtin(_gtin_from_epc(cp, iir), epc_unescape(serial, field="serial"))


def _parse_lgtin(body: str) -> Lgtin:
    cp, iir, lot = _split3(body, "CompanyPrefix.IndicatorItemRef.Lot")
    return Lgtin(_gtin_from_epc(cp, iir), epc_unescape(lot, field="lot"))


def _parse_gtin_pattern(body: str) -> Gtin:
    cp, iir, star = _split3(body, "CompanyPrefix.IndicatorItemRef.*")
    if star != "*":
        raise GS1Error("gs1.epc_urn", "epc_urn", "only the pattern CompanyPrefix.IndicatorItemRef.* is supported")
    return _gtin_from_epc(cp, iir)


def _parse_sscc(body: str) -> Sscc:
    parts = body.split(".")
    if len(parts) != 2:
        raise GS1Error("gs1.epc_urn", "epc_urn", "expected CompanyPrefix.ExtensionSerial after the scheme")
    cp, ref = parts
    _check_cp_split(cp, ref, total=17, ref_name="extension + serial reference")
    body17 = ref[0] + cp + ref[1:]
    return Sscc(body17 + str(gs1_standard_check_digit(body17)), len(cp))


def _parse_sgln(body: str) -> Sgln:
    cp, ref, ext = _split3(body, "CompanyPrefix.LocationRef.Extension")
    _check_cp_split(cp, ref, total=12, ref_name="location reference")
    body12 = cp + ref
    gln = Gln(body12 + str(gs1_standard_check_digit(body12)), len(cp))
    return Sgln(gln, epc_unescape(ext, field="gln_extension"))


_EPC_PARSERS: Final = (
    ("urn:epc:id:sgtin:", _parse_sgtin),
    ("urn:epc:id:sscc:", _parse_sscc),
    ("urn:epc:id:sgln:", _parse_sgln),
    ("urn:epc:class:lgtin:", _parse_lgtin),
    ("urn:epc:idpat:sgtin:", _parse_gtin_pattern),
)


def parse_epc_urn(urn: str) -> EpcIdentifier:
    """Parse an EPC URN into :class:`Sgtin`, :class:`Sscc`, :class:`Sgln`, :class:`Lgtin` or
    :class:`Gtin` (``urn:epc:idpat:sgtin:CP.IIR.*``).

    The company prefix length is taken from the URN. Parsing is strict (lowercase scheme,
    Tag Data Standard escapes only), so ``parse_epc_urn(u).epc_urn == u`` for every accepted ``u``.
    """
    if not isinstance(urn, str):
        raise GS1Error("gs1.epc_urn", "epc_urn", "EPC URN must be a string")
    for prefix, parser in _EPC_PARSERS:
        if urn.startswith(prefix):
            return parser(urn[len(prefix) :])
    raise GS1Error(
        "gs1.epc_urn",
        "epc_urn",
        f"unsupported EPC URN {_show(urn)}; expected one of {', '.join(p for p, _ in _EPC_PARSERS)}",
    )


def object_id(urn: str, *, validate: bool = True) -> bytes:
    """keccak256 of the UTF-8 bytes of ``urn`` (32 bytes): the on-chain object key.

    With ``validate`` (default) the URN must be one this module parses and in canonical form,
    so that one physical object cannot get two ids through spelling variants. Note that the
    company prefix length is part of an EPC URN: the same GTIN+serial split at a different
    length is a different URN and a different id.
    """
    if validate and parse_epc_urn(urn).epc_urn != urn:  # pragma: no cover - parse is strict
        raise GS1Error("gs1.epc_urn", "epc_urn", "EPC URN is not in canonical form")
    return bytes(keccak(urn.encode("utf-8")))


# --------------------------------------------------------------------------------------------
# GS1 data carried by a Digital Link URI or a barcode scan
# --------------------------------------------------------------------------------------------


def _validate_attribute(ai: str, value: str) -> None:
    """Check an AI without a dedicated Gs1Data field against biip's AI table and format."""
    field = f"ai.{ai}"
    if not isinstance(ai, str) or not _is_digits(ai) or not 2 <= len(ai) <= 4:
        raise GS1Error("gs1.ai", "attributes", f"{ai!r} is not a GS1 Application Identifier")
    if ai in _DEDICATED_AIS:
        raise GS1Error("gs1.ai", field, f"AI ({ai}) has a dedicated field and cannot be an attribute")
    try:
        known = GS1ApplicationIdentifier.extract(ai)
    except ParseError:
        known = None
    if known is None or known.ai != ai:
        raise GS1Error("gs1.ai", field, f"unknown GS1 Application Identifier ({ai})")
    if not isinstance(value, str):
        raise GS1Error("gs1.ai", field, f"value of AI ({ai}) must be a string")
    try:
        element = GS1ElementString.parse(ai + value, config=_BIIP_STRICT_CONFIG)
    except ParseError as exc:
        message = f"invalid value for AI ({ai}) [{known.format}]: {_show(value)}"
        raise GS1Error("gs1.ai", field, message) from exc
    key_error = element.gtin_error or element.gln_error or element.sscc_error
    if key_error:
        raise GS1Error("gs1.check_digit", field, key_error)


@dataclass(frozen=True, slots=True)
class Gs1Data:
    """GS1 data of one item/unit/location, as carried by a Digital Link URI or a barcode.

    AIs with a dedicated field: 01 ``gtin``, 00 ``sscc``, 414 ``gln``, 22 ``cpv``, 10 ``lot``,
    21 ``serial``, 254 ``gln_extension``, 17 ``expiry_date``, 11 ``production_date``,
    15 ``best_before_date``. Every other AI is kept, validated, in ``attributes`` as
    ``(ai, value)`` pairs sorted by AI.
    """

    gtin: Gtin | None = None
    sscc: Sscc | None = None
    gln: Gln | None = None
    cpv: str | None = None
    lot: str | None = None
    serial: str | None = None
    gln_extension: str | None = None
    expiry_date: Gs1Date | None = None
    production_date: Gs1Date | None = None
    best_before_date: Gs1Date | None = None
    attributes: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.cpv is not None:
            _validate_x(self.cpv, field="cpv", name="consumer product variant")
        if self.lot is not None:
            validate_lot(self.lot)
        if self.serial is not None:
            validate_serial(self.serial)
        if self.gln_extension is not None:
            _validate_x(self.gln_extension, field="gln_extension", name="GLN extension")
        attributes = tuple(sorted((ai, value) for ai, value in self.attributes))
        for i, (ai, value) in enumerate(attributes):
            if i and attributes[i - 1][0] == ai:
                raise GS1Error("gs1.ai", f"ai.{ai}", f"AI ({ai}) given more than once")
            _validate_attribute(ai, value)
        object.__setattr__(self, "attributes", attributes)

    @property
    def primary_key(self) -> Gtin | Sscc | Gln | None:
        """The GTIN, else the SSCC, else the GLN."""
        return self.gtin or self.sscc or self.gln

    @property
    def sgtin(self) -> Sgtin | None:
        if self.gtin is None or self.serial is None:
            return None
        return Sgtin(self.gtin, self.serial)

    @property
    def lgtin(self) -> Lgtin | None:
        if self.gtin is None or self.lot is None:
            return None
        return Lgtin(self.gtin, self.lot)

    @property
    def sgln(self) -> Sgln | None:
        if self.gln is None:
            return None
        return Sgln(self.gln, self.gln_extension)

    def attribute(self, ai: str) -> str | None:
        """Value of an AI kept in ``attributes``, or None."""
        return next((v for k, v in self.attributes if k == ai), None)


class _Collector:
    """Accumulates (AI, value) pairs into Gs1Data fields, rejecting conflicting repeats."""

    def __init__(self, *, company_prefix_length: int, today: dt.date | None, field: str) -> None:
        self.cpl = validate_company_prefix_length(company_prefix_length)
        self.today = today
        self.field = field
        self.seen: dict[str, str] = {}
        self.gtin: Gtin | None = None
        self.sscc: Sscc | None = None
        self.gln: Gln | None = None
        self.cpv: str | None = None
        self.lot: str | None = None
        self.serial: str | None = None
        self.gln_extension: str | None = None
        self.dates: dict[str, Gs1Date] = {}
        self.attributes: list[tuple[str, str]] = []

    def add(self, ai: str, value: str) -> None:
        previous = self.seen.get(ai)
        if previous is not None:
            if previous == value:
                return  # an identical repeat carries no new information
            raise GS1Error("gs1.element_string", self.field, f"AI ({ai}) appears twice with different values")
        self.seen[ai] = value
        if ai == "01":
            self.gtin = Gtin(value, self.cpl)
        elif ai == "00":
            self.sscc = Sscc(value, self.cpl)
        elif ai == "414":
            self.gln = Gln(value, self.cpl)
        elif ai == "22":
            self.cpv = _validate_x(value, field="cpv", name="consumer product variant")
        elif ai == "10":
            self.lot = validate_lot(value)
        elif ai == "21":
            self.serial = validate_serial(value)
        elif ai == "254":
            self.gln_extension = _validate_x(value, field="gln_extension", name="GLN extension")
        elif ai in _DATE_AIS:
            self.dates[ai] = Gs1Date.parse(value, field=_DATE_AIS[ai], today=self.today)
        else:
            self.attributes.append((ai, value))

    def build(self) -> Gs1Data:
        return Gs1Data(
            gtin=self.gtin,
            sscc=self.sscc,
            gln=self.gln,
            cpv=self.cpv,
            lot=self.lot,
            serial=self.serial,
            gln_extension=self.gln_extension,
            expiry_date=self.dates.get("17"),
            production_date=self.dates.get("11"),
            best_before_date=self.dates.get("15"),
            attributes=tuple(self.attributes),
        )


# --------------------------------------------------------------------------------------------
# GS1 Digital Link (uncompressed)
# --------------------------------------------------------------------------------------------

_BAD_PERCENT: Final = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _dl_error(message: str) -> GS1Error:
    return GS1Error("gs1.digital_link", "digital_link", message)


def _pct_decode(text: str) -> str:
    if "%" not in text:
        return text
    if _BAD_PERCENT.search(text):
        raise _dl_error(f"malformed percent-encoding in {_show(text)}")
    try:
        return unquote(text, errors="strict")
    except UnicodeDecodeError as exc:
        raise _dl_error(f"percent-encoding in {_show(text)} is not UTF-8") from exc


@dataclass(frozen=True, slots=True)
class DigitalLink:
    """A parsed GS1 Digital Link URI: its data and the ``base`` (scheme, host and any path
    prefix before the primary key, without trailing slash)."""

    data: Gs1Data
    base: str = DEFAULT_DIGITAL_LINK_BASE

    @property
    def uri(self) -> str:
        """Canonical form: qualifiers in the path, data attributes sorted by AI."""
        return build_digital_link(self.data, base=self.base)


def parse_digital_link(
    uri: str,
    *,
    company_prefix_length: int = DEFAULT_COMPANY_PREFIX_LENGTH,
    today: dt.date | None = None,
) -> DigitalLink:
    """Parse an uncompressed GS1 Digital Link URI with primary key 01 (GTIN), 00 (SSCC) or
    414 (GLN).

    * ``http``/``https`` with a host; an optional path prefix before the primary key.
    * Path: ``/01/{gtin}[/22/{cpv}][/10/{lot}][/21/{serial}]``, ``/00/{sscc}``,
      ``/414/{gln}[/254/{ext}]``; key qualifiers in that order, each at most once. A GTIN-8/12/13
      is accepted and normalised to GTIN-14.
    * Query: GS1 data attributes by numeric AI (``17``, ``11``, ``15`` dates, ``10`` lot when not
      in the path, any other AI known to biip); parameters with non-numeric keys (``linkType``...)
      are ignored; key qualifiers other than ``10`` and primary keys are rejected there. Only
      ``&`` separates parameters, and ``+`` is a literal plus (RFC 3986, not form encoding).
    * Percent-escapes are decoded after splitting, so ``%2F`` inside a value is a ``/``.
    """
    if not isinstance(uri, str) or not uri:
        raise _dl_error("Digital Link URI must be a non-empty string")
    if any(not "!" <= c <= "~" for c in uri):
        raise _dl_error("URI contains whitespace, control or non-ASCII characters; percent-encode them")
    try:
        parts = urlsplit(uri)
    except ValueError as exc:
        raise _dl_error(f"not a URI: {exc}") from exc
    if parts.scheme not in ("http", "https"):
        raise _dl_error(f"scheme must be http or https, got {parts.scheme!r}")
    if not parts.netloc:
        raise _dl_error("URI has no host")
    if not parts.path.startswith("/"):
        raise _dl_error("URI has no path; expected e.g. /01/{gtin}")
    segments = parts.path.split("/")[1:]
    if "" in segments:
        raise _dl_error("empty path segment (double or trailing slash)")

    # Walk AI/value pairs from the right: whatever precedes the primary key is a path prefix.
    i = len(segments) - 2
    while i >= 0:
        key = segments[i]
        if key in _DL_ALL_PRIMARY:
            break
        if key not in _DL_ALL_QUALIFIERS:
            raise _dl_error(
                f"path segment {_show(key)} is not a GS1 key or key qualifier AI; "
                "the path must end with /AI/value pairs starting at a primary key"
            )
        i -= 2
    if i < 0:
        raise _dl_error("no GS1 primary key (01, 00 or 414) found in the path")
    primary = segments[i]
    if primary not in _DL_PRIMARY:
        raise _dl_error(f"primary key ({primary}) is not supported; expected 01, 00 or 414")

    allowed = _DL_PRIMARY[primary]
    pairs = [(segments[j], segments[j + 1]) for j in range(i + 2, len(segments), 2)]
    last = -1
    for key, _ in pairs:
        if key not in allowed:
            expected = ", ".join(allowed) if allowed else "none"
            raise _dl_error(f"key qualifier ({key}) is not allowed after ({primary}); allowed: {expected}")
        position = allowed.index(key)
        if position == last:
            raise _dl_error(f"key qualifier ({key}) appears twice")
        if position < last:
            order = " -> ".join((primary, *allowed))
            raise _dl_error(f"key qualifiers must follow the order {order}; ({key}) comes after ({allowed[last]})")
        last = position

    collector = _Collector(company_prefix_length=company_prefix_length, today=today, field="digital_link")
    collector.add(primary, _pct_decode(segments[i + 1]))
    for key, raw in pairs:
        collector.add(key, _pct_decode(raw))

    if parts.query:
        query_keys: set[str] = set()
        for param in parts.query.split("&"):
            if not param:
                continue
            raw_key, has_value, raw_value = param.partition("=")
            key = _pct_decode(raw_key)
            if not _is_digits(key):
                continue  # extension parameter such as linkType: not GS1 data
            if key in query_keys:
                raise _dl_error(f"AI ({key}) appears twice in the query string")
            query_keys.add(key)
            if not has_value or not raw_value:
                raise _dl_error(f"query parameter ({key}) has no value")
            if key in _DL_ALL_PRIMARY:
                raise _dl_error(f"primary key AI ({key}) is not allowed in the query string")
            if key == "10" and primary != "01":
                raise _dl_error(f"lot (10) is only allowed with a GTIN (01), not with ({primary})")
            if key in _DL_ALL_QUALIFIERS and key != "10":
                raise _dl_error(f"key qualifier ({key}) belongs in the path, not in the query string")
            if key == "10" and "10" in collector.seen:
                raise _dl_error("lot (10) is given both in the path and in the query string")
            collector.add(key, _pct_decode(raw_value))

    prefix = "".join("/" + s for s in segments[:i])
    return DigitalLink(data=collector.build(), base=f"{parts.scheme}://{parts.netloc}{prefix}")


def _validate_base(base: str) -> str:
    if not isinstance(base, str) or any(not "!" <= c <= "~" for c in base):
        raise _dl_error("base must be an ASCII URI without whitespace")
    try:
        parts = urlsplit(base)
    except ValueError as exc:
        raise _dl_error(f"base is not a URI: {exc}") from exc
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise _dl_error("base must be http(s)://host[/path-prefix]")
    if parts.query or parts.fragment or "?" in base or "#" in base:
        raise _dl_error("base must not have a query or fragment")
    path = parts.path.rstrip("/")
    if "//" in path:
        raise _dl_error("base path must not contain empty segments")
    return f"{parts.scheme}://{parts.netloc}{path}"


def _dl_quote(value: str) -> str:
    # Everything except A-Z a-z 0-9 - . _ ~ is percent-encoded (GS1 DL canonical form).
    return quote(value, safe="")


def build_digital_link(
    data: Gs1Data,
    *,
    base: str = DEFAULT_DIGITAL_LINK_BASE,
    today: dt.date | None = None,
    lot_in_query: bool = False,
) -> str:
    """Build an uncompressed GS1 Digital Link URI.

    Exactly one of ``gtin``/``sscc``/``gln`` must be set. Key qualifiers go into the path in the
    order 22, 10, 21 (254 for a GLN); ``lot_in_query`` moves the lot to ``?10=`` instead. Dates
    and other attributes go into the query string sorted by AI. ``today`` is used only to check
    that dates can be written as YYMMDD (see :func:`format_gs1_date`).
    """
    base = _validate_base(base)
    keys = [k for k in (data.gtin, data.sscc, data.gln) if k is not None]
    if len(keys) != 1:
        raise _dl_error(f"exactly one primary key (gtin, sscc or gln) is required, got {len(keys)}")
    path: list[tuple[str, str]] = []
    query: list[tuple[str, str]] = []
    if data.gtin is not None:
        path.append(("01", data.gtin.value))
        if data.cpv is not None:
            path.append(("22", data.cpv))
        if data.lot is not None:
            (query if lot_in_query else path).append(("10", data.lot))
        if data.serial is not None:
            path.append(("21", data.serial))
    elif data.cpv is not None or data.lot is not None or data.serial is not None:
        raise _dl_error("cpv (22), lot (10) and serial (21) require a GTIN (01)")
    if data.gln is not None:
        path.append(("414", data.gln.value))
        if data.gln_extension is not None:
            path.append(("254", data.gln_extension))
    elif data.gln_extension is not None:
        raise _dl_error("gln_extension (254) requires a GLN (414)")
    if data.sscc is not None:
        path.append(("00", data.sscc.value))
    for ai, name in _DATE_AIS.items():
        gdate: Gs1Date | None = getattr(data, name)
        if gdate is not None:
            query.append((ai, format_gs1_date(gdate, field=name, today=today)))
    query.extend(data.attributes)
    query.sort()
    uri = base + "".join(f"/{ai}/{_dl_quote(value)}" for ai, value in path)
    if query:
        uri += "?" + "&".join(f"{ai}={_dl_quote(value)}" for ai, value in query)
    return uri


# --------------------------------------------------------------------------------------------
# Barcode scans (GS1 element strings), via biip
# --------------------------------------------------------------------------------------------


def _split_symbology(text: str) -> tuple[GS1Symbology | None, str, bool]:
    """Strip a leading symbology identifier (``]C1``...). Returns (gs1 symbology, rest, had_id)."""
    if not text.startswith("]"):
        return None, text, False
    try:
        ident = SymbologyIdentifier.extract(text)
    except ParseError as exc:
        raise GS1Error("gs1.element_string", "element_string", str(exc)) from exc
    return ident.gs1_symbology, text[len(ident) :], True


def _parse_element_payload(
    text: str,
    *,
    company_prefix_length: int,
    today: dt.date | None,
    separator_chars: Iterable[str],
) -> Gs1Data:
    separators = tuple(separator_chars)
    if any(len(s) != 1 for s in separators):
        raise GS1Error("gs1.element_string", "separator_chars", "separator characters must be single characters")
    text = text.lstrip("".join(separators))  # a leading FNC1 (transmitted as GS) is not data
    if not text:
        raise GS1Error("gs1.element_string", "element_string", "no GS1 element strings in the scan")
    try:
        if text.startswith("("):
            message = GS1Message.parse_hri(text, config=_BIIP_CONFIG)
        else:
            config = ParseConfig(gs1_element_strings_verify_date=False, separator_chars=separators)
            message = GS1Message.parse(text, config=config)
    except ParseError as exc:
        raise GS1Error("gs1.element_string", "element_string", str(exc)) from exc
    collector = _Collector(company_prefix_length=company_prefix_length, today=today, field="element_string")
    for element in message.element_strings:
        collector.add(element.ai.ai, element.value)
    return collector.build()


def parse_element_strings(
    value: str,
    *,
    company_prefix_length: int = DEFAULT_COMPANY_PREFIX_LENGTH,
    today: dt.date | None = None,
    separator_chars: Iterable[str] = ("\x1d",),
) -> Gs1Data:
    """Parse GS1 element strings from a barcode scan.

    Accepts the HRI form ``(01)09506000134352(17)201225(10)ABC123(21)XYZ`` and the raw form with
    FNC1 transmitted as GS (``\\x1d``, or any of ``separator_chars``) after variable-length
    fields, optionally preceded by a GS1 symbology identifier (``]C1``, ``]e0``, ``]d2``,
    ``]Q3``, ``]J1``). Splitting and AI formats are biip's; keys, dates, lot and serial are then
    validated here. In the raw form a variable-length field that is not followed by a separator
    runs to the end of the data.
    """
    if not isinstance(value, str):
        raise GS1Error("gs1.element_string", "element_string", "scan must be a string")
    symbology, rest, had_id = _split_symbology(value.strip())
    if had_id and symbology not in GS1Symbology.with_gs1_messages():
        raise GS1Error(
            "gs1.element_string", "element_string", "symbology identifier does not denote GS1 element strings"
        )
    return _parse_element_payload(
        rest, company_prefix_length=company_prefix_length, today=today, separator_chars=separator_chars
    )


def parse_scan(
    value: str,
    *,
    company_prefix_length: int = DEFAULT_COMPANY_PREFIX_LENGTH,
    today: dt.date | None = None,
    separator_chars: Iterable[str] = ("\x1d",),
) -> Gs1Data:
    """Parse whatever a scanner returned: a GS1 Digital Link URI (e.g. from a QR code), a
    plain GTIN from EAN/UPC/ITF-14 (only when a symbology identifier says so), or GS1 element
    strings (see :func:`parse_element_strings`)."""
    if not isinstance(value, str):
        raise GS1Error("gs1.element_string", "element_string", "scan must be a string")
    symbology, rest, had_id = _split_symbology(value.strip())
    if rest[:8].lower().startswith(("http://", "https://")):
        return parse_digital_link(rest, company_prefix_length=company_prefix_length, today=today).data
    if symbology in GS1Symbology.with_gtin():
        return Gs1Data(gtin=Gtin(rest, company_prefix_length))
    if had_id and symbology not in GS1Symbology.with_gs1_messages():
        raise GS1Error("gs1.element_string", "element_string", "symbology identifier does not denote GS1 data")
    return _parse_element_payload(
        rest, company_prefix_length=company_prefix_length, today=today, separator_chars=separator_chars
    )
