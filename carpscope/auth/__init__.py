"""CARP HMAC-SHA1 verification: which passphrase, which VIP set, which stack.

The md field is plain RFC 2104 HMAC-SHA1 (docs/protocol.md §2.1) over
``02 01 [lladdr] vhid VIPv4… VIPv6… counter``. The VIPs are not in the advert, so
they come from the user (--vip), from address claims (gratuitous ARP / unsolicited
NA, §2.1) or, for IPv4, from a search over the sender's /24. A failure is "bad"
only against a known VIP set, else "unverified" with its reason (§9.7). Pure: no
I/O, no clock.

keys.py turns passphrases into keys, vips.py holds the candidate VIP sets and the
message layouts, verdict.py what verification says (Verdict) and how a sender
signs, verifier.py the Verifier that searches and remembers.
"""

from carpscope.auth.keys import GUI, NETLINK, PLAIN, STALE, Keyring, gui_form
from carpscope.auth.verdict import (
                                 BUDGET_SPENT,
                                 NO_PASSPHRASE,
                                 RESULT_FIELDS,
                                 VIPS_UNKNOWN,
                                 Seal,
                                 Verdict,
)
from carpscope.auth.verifier import SEARCH_BUDGET, Verifier, verdict_of
from carpscope.auth.vips import (
                                 LEGACY_UNSORTED,
                                 OPENBSD_LLADDR,
                                 OPENBSD_LLADDR_V6LL,
                                 OPENBSD_NOV6LL,
                                 SORTED,
                                 UCARP,
                                 VARIANTS,
                                 VLANS_MAX,
)

__all__ = ["BUDGET_SPENT", "GUI", "LEGACY_UNSORTED", "NETLINK", "NO_PASSPHRASE", "OPENBSD_LLADDR",
           "OPENBSD_LLADDR_V6LL", "OPENBSD_NOV6LL", "PLAIN", "RESULT_FIELDS", "SEARCH_BUDGET", "SORTED", "STALE",
           "UCARP", "VARIANTS", "VIPS_UNKNOWN", "VLANS_MAX", "Keyring", "Seal", "Verdict", "Verifier", "gui_form",
           "verdict_of"]
