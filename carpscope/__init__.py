"""carpscope: a Wireshark-style analyzer for IP protocol 112 (CARP and VRRP)."""

__version__ = "0.1.0"
