"""Password hashing with argon2id (argon2-cffi defaults, RFC 9106 low-memory profile) and the password rule.

Passwords are never logged, stored or echoed; only the encoded argon2 hash (with its own salt and
parameters) is kept. `verify_unknown` spends the same time as a real check, so a login for an unknown user
cannot be told apart from a wrong password by timing.
"""
from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256

hasher = PasswordHasher()
_dummy: tuple[PasswordHasher, str] | None = None


def password_problem(password: str, username: str | None = None) -> str | None:
    """Why a new password is refused (Chinese, for the person setting it), or None when it is acceptable."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        return f"密码太短：至少需要{MIN_PASSWORD_LENGTH}个字符。"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"密码太长：最多{MAX_PASSWORD_LENGTH}个字符。"
    if password.strip() != password or not password.strip():
        return "密码首尾不能是空格。"
    if username and password.lower() == username.lower():
        return "密码不能与用户名相同。"
    if len(set(password)) < 4:
        return "密码过于简单：请使用更多不同的字符。"
    return None


def hash_password(password: str) -> str:
    return hasher.hash(password)


def verify_password(encoded: str, password: str) -> bool:
    try:
        return hasher.verify(encoded, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(encoded: str) -> bool:
    try:
        return hasher.check_needs_rehash(encoded)
    except (InvalidHashError, ValueError):
        return True


def verify_unknown(password: str) -> bool:
    """A check against a throw-away hash: same cost as a real one, always False."""
    global _dummy
    if _dummy is None or _dummy[0] is not hasher:
        _dummy = (hasher, hasher.hash("unknown-account-placeholder"))
    verify_password(_dummy[1], password)
    return False
