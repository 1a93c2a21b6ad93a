"""The text frontend's version: part of every cache key built on its phones.

Bump it whenever the same text can give different phones (a normalization or G2P
change), so cached training features and campaign audio made with the old phones
stop matching instead of being served.
"""

FRONTEND_VERSION = "2"  # 2: upstream GPT-SoVITS's phones (tests/parity)
