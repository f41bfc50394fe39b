"""The voice line: one channel-neutral session (session.py) and its transports, `WS /ws/voice`
(websocket.py) and the SIP endpoint (sip.py). Speech engines are in speech/ and load on the first call."""
