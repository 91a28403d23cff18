"""Small labelled sets in the layout of ../shared/data/sentiment, generated from templates
(so the training tests run where the real data is absent)."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

EN_SUBJECTS = ["the phone", "this case", "the charger", "the food", "the service", "the staff",
               "the headset", "our waiter", "the battery", "this place"]  # fmt: skip
EN_POSITIVE = ["is great", "is excellent", "was wonderful", "is perfect", "was amazing",
               "works well", "is lovely"]  # fmt: skip
EN_NEGATIVE = ["is terrible", "is awful", "was horrible", "broke quickly", "is useless",
               "was rude", "is disappointing"]  # fmt: skip
ID_SUBJECTS = ["barangnya", "makanannya", "pelayanannya", "tempatnya", "pengirimannya",
               "kualitasnya", "rasanya", "harganya"]  # fmt: skip
ID_POSITIVE = ["bagus sekali", "enak banget", "mantap", "memuaskan", "ramah dan cepat",
               "sangat baik"]  # fmt: skip
ID_NEGATIVE = ["jelek sekali", "buruk banget", "mengecewakan", "lambat dan kotor",
               "parah", "sangat kecewa"]  # fmt: skip
ID_NEUTRAL = ["saya pesan {x} kemarin", "{x} dikirim hari senin", "ada {x} di toko itu"]
ZH_SUBJECTS = ["手机", "衣服", "水果", "酒店", "书", "电脑", "洗发水", "热水器"]
ZH_POSITIVE = ["很好", "非常满意", "质量不错", "很漂亮", "物流很快", "好评"]
ZH_NEGATIVE = ["很差", "非常失望", "质量太差", "坏了", "物流太慢", "差评"]


def write_samples(root: Path) -> Path:
    """en/ (Amazon-like and Yelp-like files), id/ (train and valid), zh/ (one csv)."""
    (root / "en").mkdir(parents=True)
    (root / "id").mkdir()
    (root / "zh").mkdir()
    en = [f"{s} {p}.\t1" for s, p in itertools.product(EN_SUBJECTS, EN_POSITIVE)]
    en += [f"{s} {n}.\t0" for s, n in itertools.product(EN_SUBJECTS, EN_NEGATIVE)]
    (root / "en" / "amazon_cells_labelled.txt").write_text("\n".join(en[::2]) + "\n")
    (root / "en" / "yelp_labelled.txt").write_text("\n".join(en[1::2]) + "\n")
    rows = [f"{s} {p}\tpositive" for s, p in itertools.product(ID_SUBJECTS, ID_POSITIVE)]
    rows += [f"{s} {n}\tnegative" for s, n in itertools.product(ID_SUBJECTS, ID_NEGATIVE)]
    rows += [t.format(x=s.removesuffix("nya")) + "\tneutral"
             for t, s in itertools.product(ID_NEUTRAL, ID_SUBJECTS)]  # fmt: skip
    train = [r for i, r in enumerate(rows) if i % 5]
    (root / "id" / "smsa_train_preprocess.tsv").write_text("\n".join(train) + "\n")
    (root / "id" / "smsa_valid_preprocess.tsv").write_text("\n".join(rows[::5]) + "\n")
    with (root / "zh" / "online_shopping_10_cats.csv").open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["cat", "label", "review"])
        for s, p in itertools.product(ZH_SUBJECTS, ZH_POSITIVE):
            out.writerow([s, 1, f"{s}{p}"])
        for s, n in itertools.product(ZH_SUBJECTS, ZH_NEGATIVE):
            out.writerow([s, 0, f"{s}{n}"])
        out.writerow(["手机", 1, "手机很好"])  # a duplicate: dropped
        out.writerow(["手机", 0, ""])  # empty: dropped
    return root
