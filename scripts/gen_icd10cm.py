"""Generate kb/vocab/icd10cm.dl: the ICD-10-CM codes of malignant neoplasms, each mapped to a condition.

The codes and their descriptions come from the package simple-icd-10-cm (a generation-time tool, not a
runtime dependency of lumakras-logic):

    .venv/bin/pip install simple-icd-10-cm==1.5.0
    .venv/bin/python scripts/gen_icd10cm.py            # writes kb/vocab/icd10cm.dl
    .venv/bin/python scripts/gen_icd10cm.py --check    # exit 1 if the file is not what it would write

Every code (category, subcategory, billable code, with the dot as ICD-10-CM writes it) of the blocks
C00-C96 (which hold C7A and C7B) and D3A, up to MAX_LENGTH characters (and the longer ones a prefix match
would get wrong), becomes a fact condition_code('icd10cm', Code, Id). Id is the
condition of the longest prefix in MAPPING below (a condition of kb/vocab/conditions.dl: the script refuses
one that file does not define), else one condition per 3-character category ('icd10cm_c15', labelled with
the package's description), which the generated file defines with a condition fact.
"""

from __future__ import annotations

import argparse
import re
import sys
from importlib import metadata, resources
from pathlib import Path

import simple_icd_10_cm as icd

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "kb" / "vocab" / "icd10cm.dl"
CONDITIONS = ROOT / "kb" / "vocab" / "conditions.dl"
PACKAGE = "simple-icd-10-cm"
PINNED = "1.5.0"

# The codes listed: those of chapter 2 (Neoplasms) in categories C00-C96 (malignant neoplasms, with C7A and
# C7B) and D3A (benign neuroendocrine tumours, which a request may name for a carcinoid).
CHAPTER = "2"


# Only codes up to this many characters (C34.9, not C34.90): every code costs too much load time (load_kb,
# median CPU time on a shared machine: +0.20 s for all 1566 codes, +0.09 s for these 578); None lists every
# code. A longer code is listed too when its condition differs from that of its longest listed prefix, so
# the loader's prefix match (drop characters from the right until a listed code matches) loses nothing.
MAX_LENGTH: int | None = 5


def listed_category(cat: str) -> bool:
    return cat.startswith("C") or cat == "D3A"

# Code prefix -> condition id (kb/vocab/conditions.dl), the longest prefix wins. A prefix is a whole code
# ('C18.1' is C18.1 only, and 'C7A.01' covers C7A.010-C7A.019). Sources: REQUESTS.md "Conditions"
# ("C34.x lung, C18.x-C20 colorectal, C24.1 ampulla, C25.x pancreas, C17.x small intestine") and
# DECISIONS.md reading 17 ("C25.4, endocrine pancreas, is not adenocarcinoma").
MAPPING: dict[str, str] = {
    # digestive organs
    "C15": "esophageal_cancer",
    "C16": "gastric_cancer",
    "C17": "small_bowel_cancer",  # duodenum, jejunum, ileum, Meckel's diverticulum (C17.3): organ-level
    "C18": "colorectal",
    "C18.1": "appendiceal_cancer",  # appendix: organ-level, may be appendiceal adenocarcinoma
    "C19": "colorectal",  # rectosigmoid junction
    "C20": "colorectal",  # rectum
    "C21": "anal_cancer",
    "C21.8": "anorectal_cancer",  # overlapping sites of rectum, anus and anal canal (anorectal junction)
    "C22": "liver_malignancy_unspecified",  # the category holds C22.9: may be a secondary
    "C22.0": "hepatocellular_carcinoma",
    "C22.1": "cholangiocarcinoma",  # intrahepatic bile duct carcinoma
    "C22.2": "liver_cancer",
    "C22.3": "liver_cancer",
    "C22.4": "liver_cancer",
    "C22.7": "liver_cancer",
    "C22.8": "liver_cancer",  # liver, primary, unspecified as to type
    "C22.9": "liver_malignancy_unspecified",  # liver, not specified as primary or secondary
    "C23": "gallbladder_cancer",
    "C24": "biliary_tract_unspecified",  # other and unspecified parts of biliary tract: may be the ampulla
    "C24.0": "cholangiocarcinoma",  # extrahepatic bile duct
    "C24.1": "ampullary_cancer",  # ampulla of Vater: organ-level
    "C25": "pancreatic_cancer",  # organ-level, may be adenocarcinoma
    "C25.4": "pancreatic_neuroendocrine_tumor",  # endocrine pancreas (islet cells): not adenocarcinoma
    "C26": "digestive_tract_cancer_unspecified",
    "C26.1": "",  # spleen: a condition of its own (generated)
    # bone, skin, soft tissue
    "C40": "bone_cancer",
    "C41": "bone_cancer",
    "C43": "melanoma",
    "C45": "mesothelioma",
    "C49": "soft_tissue_sarcoma",
    "C49.A": "gist",
    # breast, genital and urinary organs, brain, thyroid
    "C50": "breast_cancer",
    "C53": "cervical_cancer",
    "C54": "uterine_cancer",
    "C55": "uterine_cancer",
    "C56": "ovarian_cancer",
    "C61": "prostate_cancer",
    "C62": "testicular_cancer",
    "C64": "kidney_cancer",
    "C67": "bladder_cancer",
    "C71": "brain_cancer",
    "C73": "thyroid_cancer",
    # neuroendocrine tumours: never adenocarcinoma, never a cancer a policy names
    "C7A": "neuroendocrine_tumor",
    "C7A.01": "small_bowel_neuroendocrine_tumor",  # carcinoid of duodenum, jejunum, ileum
    "C7A.020": "appendiceal_neuroendocrine_tumor",
    "C7A.021": "colorectal_neuroendocrine_tumor",  # cecum
    "C7A.022": "colorectal_neuroendocrine_tumor",
    "C7A.023": "colorectal_neuroendocrine_tumor",
    "C7A.024": "colorectal_neuroendocrine_tumor",
    "C7A.025": "colorectal_neuroendocrine_tumor",
    "C7A.026": "colorectal_neuroendocrine_tumor",  # rectum
    "C7A.029": "colorectal_neuroendocrine_tumor",  # large intestine, unspecified portion
    "C7A.090": "lung_neuroendocrine_tumor",  # bronchus and lung
    "C7A.1": "neuroendocrine_carcinoma",  # poorly differentiated, any site
    "C7B": "secondary_neuroendocrine_tumor",
    "D3A": "benign_neuroendocrine_tumor",
    # sites that do not say which cancer is the primary one
    "C34": "lung_cancer",  # bronchus and lung: organ-level, may be NSCLC or small cell
    "C39": "respiratory_tract_cancer_unspecified",  # may be the lung (C39.9, lower respiratory tract)
    "C39.0": "",  # upper respiratory tract: a condition of its own (generated)
    "C76": "ill_defined_site_cancer",  # thorax, abdomen, pelvis: may be a cancer the policies name
    "C76.0": "",  # head, face and neck
    "C76.4": "",  # upper limb
    "C76.5": "",  # lower limb
    "C77": "secondary_malignant_neoplasm",
    "C78": "secondary_malignant_neoplasm",
    "C79": "secondary_malignant_neoplasm",
    "C80": "cancer_of_unknown_primary",
    # lymphoid, hematopoietic and related tissue
    "C81": "hodgkin_lymphoma",
    "C90.0": "multiple_myeloma",
}


def codes() -> list[str]:
    """Every category, subcategory and code of the listed categories, in the order of the tabular list."""
    wanted = {c for c in icd.get_descendants(CHAPTER)
              if (icd.is_category(c) or not icd.is_chapter_or_block(c)) and listed_category(category(c))}
    order = {c: i for i, c in enumerate(icd.get_all_codes(True))}
    return sorted(wanted, key=order.__getitem__)


def shortlist(all_codes: list[str]) -> list[str]:
    """The codes up to MAX_LENGTH characters, and each longer one that its longest listed prefix would map
    to another condition (parents come before their children in all_codes)."""
    if MAX_LENGTH is None:
        return list(all_codes)
    listed: list[str] = []
    kept: set[str] = set()
    for c in all_codes:
        if len(c) > MAX_LENGTH:
            prefix = next((c[:n] for n in range(len(c) - 1, 2, -1) if c[:n] in kept), None)
            if prefix is not None and mapped(prefix) == mapped(c):
                continue
        listed.append(c)
        kept.add(c)
    return listed


def category(code: str) -> str:
    return code.split(".")[0]


def generated_id(code: str) -> str:
    return "icd10cm_" + code.lower().replace(".", "_")


def source(code: str) -> tuple[str, str]:
    """The condition of the code and the code it comes from: the longest prefix of MAPPING, or the code's
    category; an empty condition in MAPPING (or none) stands for the generated condition of that code."""
    prefixes = [p for p in MAPPING if code == p or code.startswith(p if "." in p else p + ".")]
    best = max(prefixes, key=len) if prefixes else category(code)
    return MAPPING.get(best) or generated_id(best), best


def mapped(code: str) -> str:
    return source(code)[0]


def quoted(text: str) -> str:
    """A kb string constant: '...', or "..." when the text holds a single quote (the kb has no escapes)."""
    text = text.replace("\\", "/").replace("\n", " ")
    if "'" not in text:
        return f"'{text}'"
    if '"' not in text:
        return f'"{text}"'
    return "'" + text.replace("'", "") + "'"


def defined_conditions() -> set[str]:
    text = CONDITIONS.read_text(encoding="utf-8")
    return set(re.findall(r"^\+\s*condition\(\s*'([^']+)'", text, flags=re.M))


def edition() -> str:
    files = [f.name for f in resources.files("simple_icd_10_cm.data").iterdir()]
    tabular = next((f for f in files if f.startswith("icd10c") and f.endswith(".xml")), "")
    m = re.search(r"([A-Za-z]+)-(\d+)-(\d{4})", tabular)
    if not m:
        return tabular
    month, day, year = m.group(1), m.group(2), int(m.group(3))
    fiscal = year + 1 if month in ("October", "November", "December") else year  # FY starts October 1
    return f"ICD-10-CM FY{fiscal}, the tabular list of {month} {day}, {year} ({tabular})"


def render() -> str:
    version = metadata.version(PACKAGE)
    if version != PINNED:
        sys.exit(f"{PACKAGE} {version} is installed; this script is pinned to {PINNED} "
                 f"(pip install {PACKAGE}=={PINNED}, or update PINNED and regenerate)")
    known = defined_conditions()
    unknown = sorted({c for c in MAPPING.values() if c and c not in known})
    if unknown:
        sys.exit(f"MAPPING names conditions kb/vocab/conditions.dl does not define: {', '.join(unknown)}")
    all_codes = codes()
    listed = shortlist(all_codes)
    generated: dict[str, str] = {}  # generated condition id -> the code whose description labels it
    for c in listed:
        cond, origin = source(c)
        if cond not in known:
            generated.setdefault(cond, origin)
    clash = sorted(set(generated) & known)
    if clash:
        sys.exit(f"generated ids clash with conditions.dl: {', '.join(clash)}")

    n_categories = len({category(c) for c in listed})
    longer = sum(1 for c in listed if MAX_LENGTH and len(c) > MAX_LENGTH)
    scope = [f"# {len(listed)} codes in {n_categories} categories: every category, subcategory and code, with the "
             "dot,", "# of C00-C96 (with C7A and C7B) and D3A"]
    if MAX_LENGTH:
        scope[-1] += f" up to {MAX_LENGTH} characters (C34.9, not C34.90), and the {longer} longer"
        scope += ["# codes whose condition differs from their longest listed prefix's (the full list costs too much",
                  "# load time): a longer code is matched by its longest listed prefix (the loader drops characters",
                  "# from the right until a listed code matches)."]
    else:
        scope[-1] += "."
    lines = [
        "# ICD-10-CM codes of malignant neoplasms (DECISIONS.md reading 17; REQUESTS.md \"Conditions\").",
        "# GENERATED by scripts/gen_icd10cm.py: do not edit; change the script's MAPPING (or conditions.dl) and run",
        "#     .venv/bin/pip install simple-icd-10-cm==1.5.0",
        "#     .venv/bin/python scripts/gen_icd10cm.py",
        f"# Source: the package {PACKAGE} {version} (https://github.com/StefanoTrv/simple_icd_10_CM), which holds",
        f"# {edition()}.",
        *scope,
        "#     condition_code('icd10cm', Code, Id)   the code Code is (or, for an organ-level Id, may be) condition Id",
        "#     condition(Id, Label)                  a condition per category no condition of conditions.dl",
        "#                                           covers, labelled with the category's ICD-10-CM title",
        "",
    ]
    if generated:
        lines.append("# Conditions of categories (or codes) that map to no condition of kb/vocab/conditions.dl")
        order = {c: i for i, c in enumerate(all_codes)}
        for cond, code in sorted(generated.items(), key=lambda kv: order[kv[1]]):
            lines.append(f"+ condition({quoted(cond)}, {quoted(icd.get_description(code))})")
        lines.append("")
    current = None
    for c in listed:
        cat = category(c)
        if cat != current:
            if current is not None:
                lines.append("")
            lines.append(f"# {cat} {icd.get_description(cat)}")
            current = cat
        lines.append(f"+ condition_code('icd10cm', {quoted(c)}, {quoted(mapped(c))})  # {icd.get_description(c)}")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if kb/vocab/icd10cm.dl is out of date")
    args = parser.parse_args()
    text = render()
    if args.check:
        if not OUT.exists() or OUT.read_text(encoding="utf-8") != text:
            print(f"{OUT.relative_to(ROOT)} is out of date: run scripts/gen_icd10cm.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
