"""Language detection for sentiment (en, id, zh) and the polarity of emoji and emoticons.

Chinese is told by script (CJK ideographs). English and Indonesian share the Latin script,
so they are told by their most frequent function and review words plus Indonesian
morphology (``-nya``, ``-kan``, ``meng-``, ``ber-``): a few microseconds a text. Only when
the words tie does the general identifier py3langid vote (a millisecond a text, two seconds
to load once); if it is not sure either, the caller's default language wins. A text with
no letters is ``und`` (undetermined).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from patron.predictive.sentiment_text import cjk_share

LANGUAGES = ("en", "id", "zh")
UNDETERMINED = "und"

_EN = frozenset(
    """the a an and or but is are was were be been being am it its it's this that these those
    i i'm i've my me we our you your he she they them their his her of to in on at for with
    from by as not no very so too just really would will can could should have has had do does
    did don't didn't doesn't isn't wasn't what which who when where how all any some more most
    than then there here if about after before again only also good great bad poor love like
    nice excellent terrible awful best worst product service food place price quality phone
    works worked work recommend thanks thank ever never well one time buy bought money waste
    item order delivery shipping fast slow arrived happy disappointed""".split()
)
_ID = frozenset(
    """yang dan di ke dari ini itu ada tidak tak bukan belum sudah udah akan bisa dengan untuk
    pada karena atau juga saja aja lagi sangat banget sekali sih dong deh kok ya yg dgn utk
    tdk gak ga nggak enggak gk aku saya kami kita kamu anda dia mereka nya tapi tetapi jadi
    kalau kalo buat sama masih lebih paling agak cukup kurang enak bagus jelek mantap mantul
    puas kecewa murah mahal barang pengiriman pesanan pelayanan harga tempat makanan minuman
    rasa terima kasih makasih sesuai cepat lambat lama rusak recomended rekomendasi suka
    ramah baik buruk parah seru nyaman kotor bersih paket sampai hari toko buka jam pagi
    siang sore malam besok kemarin tinggal pesan beli lumayan lah biasa banyak sedikit
    semua setiap kalau jika bagaimana kenapa mengapa apa siapa mana kapan sini situ sana
    terus langsung baru lama tolong mohon maaf selamat gan kak min sis bro oke mau ingin
    harus boleh perlu tahu lihat datang pergi pulang kirim dikirim sampe udh sdh bgt""".split()
)
_ID_MORPHOLOGY = re.compile(
    r"^(?:meng|meny|mem|men|ber|ter|per|di|ke)\w{3,}|\w{3,}(?:nya|kan|lah|kah)$"
)
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)

# Polarity of common emoji and emoticons in reviews and chats, in [-1, 1].
EMOJI: dict[str, float] = {
    "😀": 0.8, "😃": 0.8, "😄": 0.8, "😁": 0.8, "😆": 0.7, "😊": 0.8, "🙂": 0.5, "😍": 0.9,
    "🥰": 0.9, "😘": 0.8, "🤩": 0.9, "😎": 0.6, "😂": 0.4, "🤣": 0.4, "😉": 0.5, "😋": 0.7,
    "👍": 0.8, "👌": 0.7, "👏": 0.8, "🙏": 0.5, "💯": 0.8, "🔥": 0.6, "⭐": 0.6, "🌟": 0.7,
    "❤": 0.9, "❤️": 0.9, "💕": 0.9, "💖": 0.9, "💗": 0.9, "😇": 0.7, "🎉": 0.8, "✨": 0.5,
    "😐": 0.0, "😑": -0.1, "🤔": -0.1, "😕": -0.5, "🙁": -0.6, "☹": -0.6, "☹️": -0.6,
    "😞": -0.7, "😟": -0.6, "😢": -0.7, "😭": -0.7, "😠": -0.8, "😡": -0.9, "🤬": -0.9,
    "👎": -0.8, "💔": -0.8, "😤": -0.6, "😩": -0.7, "😫": -0.7, "🤮": -0.9, "🤢": -0.8,
    "😒": -0.6, "🙄": -0.5, "😣": -0.6, "😖": -0.7, "😰": -0.5, "😱": -0.5, "💩": -0.8,
}  # fmt: skip
EMOTICONS: dict[str, float] = {
    ":)": 0.5, ":-)": 0.5, ":d": 0.7, ":-d": 0.7, "xd": 0.5, ";)": 0.4, "<3": 0.8,
    ":(": -0.6, ":-(": -0.6, ":'(": -0.7, ">:(": -0.8, ":/": -0.3,
}  # fmt: skip
_EMOTICON = re.compile(
    "|".join(re.escape(e) for e in sorted(EMOTICONS, key=len, reverse=True)), re.IGNORECASE
)


def detect(text: str, *, default: str = "en") -> str:
    """``zh``, ``id`` or ``en`` (``default`` when the words do not tell); ``und`` if the text
    has no letters at all."""
    if cjk_share(text) >= 0.3:
        return "zh"
    words = [w.lower() for w in _WORD.findall(text)]
    if not words:
        return UNDETERMINED
    en = sum(1.0 for w in words if w in _EN)
    ind = sum(1.0 for w in words if w in _ID)
    ind += 0.5 * sum(1 for w in words if w not in _EN and w not in _ID and _ID_MORPHOLOGY.match(w))
    if en > ind:
        return "en"
    if ind > en:
        return "id"
    if sum(len(w) for w in words) < 6:  # "ok", "wow": too short for anyone to tell
        return default
    return _identifier_vote(text) or default


@lru_cache(maxsize=1)
def _identifier() -> Any:
    """py3langid (BSD, model inside the package), restricted to English and Malay/Indonesian;
    loaded on the first text the word lists cannot tell (about 2 s, once per process)."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(["en", "id", "ms"])
    return identifier


def _identifier_vote(text: str) -> str | None:
    ranked = _identifier().rank(text)
    scores = {lang: float(p) for lang, p in ranked}
    en, ind = scores.get("en", 0.0), scores.get("id", 0.0) + scores.get("ms", 0.0)
    if abs(en - ind) < 0.2:
        return None
    return "en" if en > ind else "id"


def emoji_polarity(text: str) -> tuple[float, int]:
    """(mean polarity, count) of the emoji and emoticons in `text`; (0, 0) if none."""
    values = [EMOJI[c] for c in text if c in EMOJI]
    values += [EMOTICONS[m.group(0).lower()] for m in _EMOTICON.finditer(text)]
    if not values:
        return 0.0, 0
    return sum(values) / len(values), len(values)
