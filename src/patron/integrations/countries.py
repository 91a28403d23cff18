"""Country names as import files spell them -> ISO 3166-1 alpha-2 codes."""

from __future__ import annotations

import re

_ISO = """
AD Andorra|AE United Arab Emirates|AF Afghanistan|AG Antigua and Barbuda|AL Albania|AM Armenia
AO Angola|AR Argentina|AT Austria|AU Australia|AZ Azerbaijan|BA Bosnia and Herzegovina
BB Barbados|BD Bangladesh|BE Belgium|BF Burkina Faso|BG Bulgaria|BH Bahrain|BI Burundi|BJ Benin
BN Brunei|BO Bolivia|BR Brazil|BS Bahamas|BT Bhutan|BW Botswana|BY Belarus|BZ Belize|CA Canada
CD Democratic Republic of the Congo|CF Central African Republic|CG Congo|CH Switzerland
CI Cote d'Ivoire|CL Chile|CM Cameroon|CN China|CO Colombia|CR Costa Rica|CU Cuba|CV Cape Verde
CY Cyprus|CZ Czech Republic|DE Germany|DJ Djibouti|DK Denmark|DM Dominica|DO Dominican Republic
DZ Algeria|EC Ecuador|EE Estonia|EG Egypt|ER Eritrea|ES Spain|ET Ethiopia|FI Finland|FJ Fiji
FR France|GA Gabon|GB United Kingdom|GD Grenada|GE Georgia|GH Ghana|GM Gambia|GN Guinea
GQ Equatorial Guinea|GR Greece|GT Guatemala|GW Guinea-Bissau|GY Guyana|HK Hong Kong|HN Honduras
HR Croatia|HT Haiti|HU Hungary|ID Indonesia|IE Ireland|IL Israel|IN India|IQ Iraq|IR Iran
IS Iceland|IT Italy|JM Jamaica|JO Jordan|JP Japan|KE Kenya|KG Kyrgyzstan|KH Cambodia|KI Kiribati
KM Comoros|KN Saint Kitts and Nevis|KP North Korea|KR South Korea|KW Kuwait|KZ Kazakhstan|LA Laos
LB Lebanon|LC Saint Lucia|LI Liechtenstein|LK Sri Lanka|LR Liberia|LS Lesotho|LT Lithuania
LU Luxembourg|LV Latvia|LY Libya|MA Morocco|MC Monaco|MD Moldova|ME Montenegro|MG Madagascar
MH Marshall Islands|MK North Macedonia|ML Mali|MM Myanmar|MN Mongolia|MO Macao|MR Mauritania
MT Malta|MU Mauritius|MV Maldives|MW Malawi|MX Mexico|MY Malaysia|MZ Mozambique|NA Namibia
NE Niger|NG Nigeria|NI Nicaragua|NL Netherlands|NO Norway|NP Nepal|NR Nauru|NZ New Zealand|OM Oman
PA Panama|PE Peru|PG Papua New Guinea|PH Philippines|PK Pakistan|PL Poland|PR Puerto Rico
PS Palestine|PT Portugal|PW Palau|PY Paraguay|QA Qatar|RO Romania|RS Serbia|RU Russia|RW Rwanda
SA Saudi Arabia|SB Solomon Islands|SC Seychelles|SD Sudan|SE Sweden|SG Singapore|SI Slovenia
SK Slovakia|SL Sierra Leone|SM San Marino|SN Senegal|SO Somalia|SR Suriname|SS South Sudan
ST Sao Tome and Principe|SV El Salvador|SY Syria|SZ Eswatini|TD Chad|TG Togo|TH Thailand
TJ Tajikistan|TL Timor-Leste|TM Turkmenistan|TN Tunisia|TO Tonga|TR Turkey|TT Trinidad and Tobago
TV Tuvalu|TW Taiwan|TZ Tanzania|UA Ukraine|UG Uganda|US United States|UY Uruguay|UZ Uzbekistan
VA Vatican City|VC Saint Vincent and the Grenadines|VE Venezuela|VN Vietnam|VU Vanuatu|WS Samoa
YE Yemen|ZA South Africa|ZM Zambia|ZW Zimbabwe|GG Guernsey|JE Jersey|IM Isle of Man|GI Gibraltar
FO Faroe Islands|GL Greenland|NC New Caledonia|PF French Polynesia|RE Reunion|BM Bermuda
KY Cayman Islands|VG British Virgin Islands|AW Aruba|CW Curacao
"""

# Other spellings seen in real files (the UCI Online Retail data set among them).
_ALIASES = {
    "uk": "GB", "great britain": "GB", "britain": "GB", "england": "GB", "scotland": "GB",
    "wales": "GB", "northern ireland": "GB", "eire": "IE", "republic of ireland": "IE",
    "usa": "US", "u.s.a.": "US", "u.s.": "US", "united states of america": "US", "america": "US",
    "rsa": "ZA", "uae": "AE", "czechia": "CZ", "holland": "NL", "the netherlands": "NL",
    "korea": "KR", "republic of korea": "KR", "viet nam": "VN", "russian federation": "RU",
    "prc": "CN", "people's republic of china": "CN", "mainland china": "CN",
    "hong kong sar": "HK", "macau": "MO", "turkiye": "TR", "ivory coast": "CI",
    "swaziland": "SZ", "burma": "MM", "east timor": "TL", "deutschland": "DE",
}  # fmt: skip

_SPACES = re.compile(r"\s+")


def _norm(name: str) -> str:
    return _SPACES.sub(" ", name.strip().lower())


NAME_TO_CODE: dict[str, str] = {
    _norm(item[3:]): item[:2]
    for line in _ISO.strip().splitlines()
    for item in (part.strip() for part in line.split("|"))
}
NAME_TO_CODE.update(_ALIASES)
CODES: frozenset[str] = frozenset(NAME_TO_CODE.values())


def country_code(value: str) -> str | None:
    """'United Kingdom' / 'EIRE' / 'gb' -> 'GB', 'IE', 'GB'; unknown names -> None."""
    text = value.strip()
    if len(text) == 2 and text.upper() in CODES:
        return text.upper()
    return NAME_TO_CODE.get(_norm(text))
