"""Every finding kind carpscope emits, with its usual severity: one catalogue.

Kinds are part of the user contract (the manual's FINDINGS section, the JSON
`kind` field): add new ones at the end of their block, never rename one. Modules
name a kind by its constant here, not by a bare string. A few kinds take another
severity case by case (adver-int-mismatch and skew-tie are info for VRRPv3 or a
plain priority tie, demoted is info once it clears at boot): the emitter says so.
"""

from __future__ import annotations

from types import MappingProxyType

from carpscope.model import Severity

# Decoders (carpscope/wire).
BAD_TTL = "bad-ttl"
BAD_CHECKSUM = "bad-checksum"
MALFORMED = "malformed"
SHORT_CAPTURE = "short-capture"
AMBIGUOUS = "ambiguous"
FRAGMENTED = "fragmented"
TRAILING_BYTES = "trailing-bytes"

# The capture as a whole (cli.py).
TRUNCATED_CAPTURE = "truncated-capture"
CAPTURE_LOST = "capture-lost"

# The signature verifier (auth.py).
SIGNATURE_BUDGET = "signature-budget"

# The election tracker (election/).
SPLIT_BRAIN = "split-brain"
PASSPHRASE_MISMATCH = "passphrase-mismatch"
VIP_MISMATCH = "vip-mismatch"
HMAC_FAILED = "hmac-failed"
VRRP_COLLISION = "vrrp-collision"
VHID_COLLISION = "vhid-collision"
NO_PASSPHRASE = "no-passphrase"
FLAPPING = "flapping"
DEMOTED = "demoted"
ADVBASE_MISMATCH = "advbase-mismatch"
ADVER_INT_MISMATCH = "adver-int-mismatch"
SKEW_TIE = "skew-tie"
SLOW_FAILOVER = "slow-failover"
LOOPED_ADVERT = "looped-advert"
REPLAYED_ADVERT = "replayed-advert"
STALE_KEY = "stale-key"
VIPS_UNKNOWN = "vips-unknown"
GUI_PASSPHRASE = "gui-passphrase"
LIMIT_REACHED = "limit-reached"  # a cap on memory was reached (issue 20)

# Captures from several vantage points (election/reach.py, issue 15).
ONE_WAY_LOSS = "one-way-loss"  # critical when it explains a split brain

SEVERITY = MappingProxyType({
    BAD_TTL: Severity.WARNING,
    BAD_CHECKSUM: Severity.WARNING,
    MALFORMED: Severity.WARNING,
    SHORT_CAPTURE: Severity.WARNING,
    AMBIGUOUS: Severity.INFO,
    FRAGMENTED: Severity.WARNING,
    TRAILING_BYTES: Severity.INFO,
    TRUNCATED_CAPTURE: Severity.WARNING,
    CAPTURE_LOST: Severity.WARNING,
    SIGNATURE_BUDGET: Severity.WARNING,
    SPLIT_BRAIN: Severity.CRITICAL,
    PASSPHRASE_MISMATCH: Severity.CRITICAL,
    VIP_MISMATCH: Severity.CRITICAL,
    HMAC_FAILED: Severity.CRITICAL,
    VRRP_COLLISION: Severity.CRITICAL,
    VHID_COLLISION: Severity.CRITICAL,
    NO_PASSPHRASE: Severity.WARNING,
    FLAPPING: Severity.WARNING,
    DEMOTED: Severity.WARNING,
    ADVBASE_MISMATCH: Severity.WARNING,
    ADVER_INT_MISMATCH: Severity.WARNING,
    SKEW_TIE: Severity.WARNING,
    SLOW_FAILOVER: Severity.WARNING,
    LOOPED_ADVERT: Severity.WARNING,
    REPLAYED_ADVERT: Severity.WARNING,
    STALE_KEY: Severity.WARNING,
    VIPS_UNKNOWN: Severity.INFO,
    GUI_PASSPHRASE: Severity.INFO,
    LIMIT_REACHED: Severity.WARNING,
    ONE_WAY_LOSS: Severity.WARNING,
})
