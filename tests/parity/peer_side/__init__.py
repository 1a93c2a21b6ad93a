"""Functions run inside the parity peer's process (see ``peer_worker.py``); never
imported by the test process itself."""
