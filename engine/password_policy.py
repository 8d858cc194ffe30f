"""What a password must be (accounts created, passwords reset, by the API, the pages or the
command line): at least 10 characters, not one of the common passwords in
config/common_passwords.txt (nor one of them with digits or punctuation around it), not
containing the user name, not a run or a repetition (`1234567890`, `aaaaaaaaaa`, `abcabcabc`,
`qwertyuiop`), and, below 16 characters, of at least two kinds of characters (lower case, upper case,
digits, other: Chinese characters count as other).

`problems()` gives the first rule a password breaks, as a `Reason` (a code for the pages'
language, an English message for the API)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from .errors import Reason
from .settings import CONFIG_DIR

MIN_LENGTH = 10
MAX_LENGTH = 200
PASSPHRASE_LENGTH = 16  # from this length one kind of characters is enough (a passphrase)
COMMON_LIST = CONFIG_DIR / "common_passwords.txt"
# keyboard rows and alphabets that people walk along; a password made of one stretch of one
# of these (either direction) is a sequence
RUNS = ("0123456789", "abcdefghijklmnopqrstuvwxyz", "qwertyuiop", "asdfghjkl", "zxcvbnm",
        "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p", "qazwsxedcrfvtgbyhnujmikolp", "1q2w3e4r5t6y7u8i9o0p",
        "q1w2e3r4t5y6u7i8o9p0", "!@#$%^&*()")


@lru_cache(maxsize=4)
def common_passwords(path: Path = COMMON_LIST) -> frozenset[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and not line.startswith("#"))


def problems(password: str, username: str | None = None) -> Reason | None:
    """The first rule `password` breaks, or None."""
    if len(password) < MIN_LENGTH:
        return Reason("password_short", f"at least {MIN_LENGTH} characters", {"min": MIN_LENGTH})
    if len(password) > MAX_LENGTH:
        return Reason("too_long", f"at most {MAX_LENGTH} characters", {"max": MAX_LENGTH})
    folded = password.casefold()
    core = folded.strip("0123456789!@#$%^&*()-_=+.,;:?~`'\"[]{}<>/\\| ")
    common = common_passwords()
    if folded in common or (len(core) >= 4 and core in common):
        return Reason("password_common", "is one of the most common passwords")
    if username and len(username) >= 3 and username.casefold() in folded:
        return Reason("password_username", "must not contain the user name")
    if _run_or_repetition(folded):
        return Reason("password_sequence", "is a sequence or a repetition (like 1234567890 or aaaaaaaaaa)")
    if len(password) < PASSPHRASE_LENGTH and len(_classes(password)) < 2:
        return Reason("password_classes",
                      "mix at least two kinds of characters: lower case, upper case, digits, others")
    return None


def _classes(password: str) -> set[str]:
    kinds = set()
    for ch in password:
        kinds.add("lower" if ch.islower() else "upper" if ch.isupper() else "digit" if ch.isdigit() else "other")
    return kinds


def _run_or_repetition(text: str) -> bool:
    for period in range(1, len(text) // 2 + 1):  # aaaaaaaaaa, abcabcabc, passpass..
        if len(text) % period == 0 and text[:period] * (len(text) // period) == text:
            return True
    for run in RUNS:
        for line in (run, run[::-1]):
            if text in line * 3:  # 7890123456 wraps around
                return True
    return False
