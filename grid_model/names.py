"""Place-name vocabulary for the embedded region: syllables with their pinyin.

Names are built from two syllables (金 + 桂 -> 金桂, Jingui) so that the generator can make
thousands of distinct, pronounceable road and village names with a romanised form.
"""

from __future__ import annotations

import numpy as np

SYLLABLES: tuple[tuple[str, str], ...] = (
    ("金", "jin"), ("桂", "gui"), ("荷", "he"), ("花", "hua"), ("温", "wen"), ("泉", "quan"),
    ("新", "xin"), ("华", "hua"), ("东", "dong"), ("西", "xi"), ("南", "nan"), ("北", "bei"),
    ("安", "an"), ("平", "ping"), ("和", "he"), ("兴", "xing"), ("文", "wen"), ("明", "ming"),
    ("春", "chun"), ("秋", "qiu"), ("江", "jiang"), ("山", "shan"), ("石", "shi"), ("桥", "qiao"),
    ("柳", "liu"), ("松", "song"), ("竹", "zhu"), ("梅", "mei"), ("兰", "lan"), ("菊", "ju"),
    ("龙", "long"), ("凤", "feng"), ("云", "yun"), ("霞", "xia"), ("湖", "hu"), ("塘", "tang"),
    ("溪", "xi"), ("岭", "ling"), ("坑", "keng"), ("源", "yuan"), ("田", "tian"), ("丰", "feng"),
    ("吉", "ji"), ("祥", "xiang"), ("福", "fu"), ("寿", "shou"), ("康", "kang"), ("宁", "ning"),
    ("常", "chang"), ("乐", "le"), ("德", "de"), ("仁", "ren"), ("信", "xin"), ("礼", "li"),
    ("光", "guang"), ("荣", "rong"), ("长", "chang"), ("青", "qing"), ("白", "bai"), ("红", "hong"),
    ("下", "xia"), ("上", "shang"), ("中", "zhong"), ("前", "qian"), ("后", "hou"), ("杨", "yang"),
    ("徐", "xu"), ("王", "wang"), ("李", "li"), ("张", "zhang"), ("陈", "chen"), ("周", "zhou"),
)

ROAD_SUFFIXES: tuple[tuple[str, str], ...] = (("路", "Lu"), ("街", "Jie"), ("大道", "Dadao"))


def unique_names(rng: np.random.Generator, count: int) -> list[tuple[str, str]]:
    """``count`` distinct two-syllable names as (hanzi, romanised) pairs, e.g. ("金桂", "Jingui")."""
    n = len(SYLLABLES)
    if count > 2000:
        raise ValueError(f"cannot make {count} distinct names from {n} syllables")
    picks = rng.permutation(n * n)
    out: list[tuple[str, str]] = []
    romanised: set[str] = set()
    for code in picks:
        a, b = divmod(int(code), n)
        (ha, pa), (hb, pb) = SYLLABLES[a], SYLLABLES[b]
        roman = (pa + pb).capitalize()
        if a == b or roman in romanised:
            continue
        romanised.add(roman)
        out.append((ha + hb, roman))
        if len(out) == count:
            break
    return out
