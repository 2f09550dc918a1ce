"""Units, converted in one place: the kernel counts nanoseconds, people read
milliseconds and seconds, traces want microseconds."""

NS_PER_US = 1_000
NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000


def ms(ns: float) -> float:
    return ns / NS_PER_MS


def s(ns: float) -> float:
    return ns / NS_PER_S


def us(ns: float) -> float:
    return ns / NS_PER_US


def ns_from_ms(milliseconds: float) -> int:
    return round(milliseconds * NS_PER_MS)


def ns_from_s(seconds: float) -> int:
    return round(seconds * NS_PER_S)
