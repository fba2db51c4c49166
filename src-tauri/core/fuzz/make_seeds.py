#!/usr/bin/env python3
"""Turns the captured ABS 2.36.0 payloads (tests/fixtures/abs-2.36.0/) into the fuzz seeds in
seeds/decode, seeds/packet and seeds/policy. Run it after the fixtures change; the seeds are committed, so
neither the fuzz run nor CI needs it. Seeds named `crash-*` (regressions) are left alone."""

import hashlib
import json
import pathlib

HERE = pathlib.Path(__file__).resolve().parent
FIXTURES = HERE.parent.parent.parent / "tests" / "fixtures" / "abs-2.36.0"
CAPTURED = json.loads((FIXTURES / "captured-events.json").read_text())
PROBES = json.loads((FIXTURES / "probe-results.json").read_text())

# Probe payloads that are socket events, by the event they were captured from (the same
# mapping as src-tauri/core/tests/protocol_fixtures.rs).
PROBE_EVENTS = {
    "initRoot": "init",
    "initAlice": "init",
    "userOnlinePayload": "user_online",
    "userOfflinePayload": "user_offline",
    "userStreamUpdateOnStart": "user_stream_update",
    "userStreamUpdateOnClose": "user_stream_update",
    "progressUpdated1": "user_item_progress_updated",
    "progressUpdated2": "user_item_progress_updated",
    "progressUpdatedOnClose": "user_item_progress_updated",
    "userAddedPayload": "user_added",
    "logEventSample": "log",
    "userSessionClosed": "user_session_closed",
}


def compact(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def write(directory, name, text):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(text, encoding="utf-8")


def clean(directory):
    for path in directory.glob("*"):
        if not path.name.startswith("crash-"):
            path.unlink()


def decode_seeds():
    out = HERE / "seeds" / "decode"
    clean(out)
    seen = set()
    inputs = []
    for entry in CAPTURED:
        name = entry["event"]
        if name.startswith("("):
            continue  # (connect)/(disconnect) markers
        args = entry["args"]
        inputs.append((name, name + ("\n" + compact(args[0]) if args else "")))
    for key, name in PROBE_EVENTS.items():
        inputs.append((name, name + "\n" + compact(PROBES[key])))
    # The rust_socketio-era `message` form and an array payload for the multi-argument door.
    inputs.append(("message", 'message\n"pong"'))
    inputs.append(("message", 'message\n["backup_applied"]'))
    for name, text in inputs:
        digest = hashlib.sha1(text.encode()).hexdigest()[:8]
        if text in seen:
            continue
        seen.add(text)
        write(out, f"{name}-{digest}", text)
    return len(seen)


def event_line(name, args):
    return compact([name, *args])


def socket_script(socket, reconciles, since=0):
    """One socket's view of the capture (from `since` ms on) as a policy script: events with the
    time between them, Connected after each init, Offline at the disconnect, and a REST reconcile
    after the first event of each name in `reconciles`."""
    reconciles = dict(reconciles)
    lines = []
    last_t = None
    for entry in CAPTURED:
        if entry["socket"] != socket or entry["t"] < since:
            continue
        t = entry["t"]
        if last_t is not None and t > last_t:
            lines.append(f"+{t - last_t}")
        last_t = t
        name = entry["event"]
        if name == "(connect)":
            lines.append("!a")
        elif name == "(disconnect)":
            lines.append("!o")
        else:
            lines.append(event_line(name, entry["args"]))
            if name == "init":
                lines.append("!c")
        if name in reconciles:
            lines.append("?" + compact(reconciles.pop(name)))
    return lines


def policy_seeds():
    out = HERE / "seeds" / "policy"
    clean(out)
    tasks = {"tasks": []}
    during = {"users": PROBES["usersOnlineRest"], "tasks": tasks}
    after = {"users": PROBES["usersOnlineRestAfterClose"], "tasks": tasks}
    reconciles = {"init": during, "user_stream_update": during, "admin_message": after}
    root = socket_script("A(root)", reconciles)
    # The variants replay only the part where alice listens (the auth probes before it are
    # presence flaps the full `root` seed covers), to keep seeds small.
    listening = socket_script("A(root)", reconciles, since=59091)
    alice = socket_script("B(alice)", {"init": {"users": "forbidden", "tasks": tasks}})
    everything_on = "#" + compact({
        "server_activity": True, "milestones": True, "online_debounce_s": 0,
        "offline_debounce_s": 0, "merge_window_s": 1, "rate_limit": 2, "rate_window_s": 5,
        "dedupe_window_s": 1, "outage_summary_after_s": 1,
    })
    hushed = "#" + compact({
        "quiet_hours": {"start": "00:00", "end": "23:59"}, "muted_users": ["276e3c05-36c4-43df-9d45-ca8aa03c2d14"],
    })
    # A long outage in the middle of the root timeline: the "While you were away" summary.
    init_line = next(line for line in listening if line.startswith('["init"'))
    cut = next(i for i, line in enumerate(listening) if line.startswith('["admin_message"'))
    outage = listening[:cut] + ["!o", "+600000", "!a", init_line, "!c", "?" + compact(after)] + listening[cut:]
    scripts = {
        "root": root,
        "alice": alice,
        "root-everything-on": [everything_on, *listening],
        "root-hushed": [hushed, *listening],
        "root-outage": [everything_on, *outage],
    }
    for name, lines in scripts.items():
        write(out, name, "\n".join(lines) + "\n")
    return len(scripts)


def packet_seeds():
    """Engine.IO text frames as the WebSocket delivers them: the handshake and control frames a
    server sends, and one `42[...]` event frame per captured event name."""
    out = HERE / "seeds" / "packet"
    clean(out)
    frames = {
        "open": "0" + compact({"sid": "lv4UH0wqGbhfSQ2OAAAB", "upgrades": [], "pingInterval": 25000,
                               "pingTimeout": 20000, "maxPayload": 1000000}),
        "ping": "2",
        "pong": "3",
        "noop": "6",
        "close": "1",
        "connect": "40" + compact({"sid": "b1NS3z0kq5TJ9rBCAAAC"}),
        "disconnect": "41",
        "connect_error": "44" + compact({"message": "x"}),
        "ack": "4317[]",
        "event-with-ack-id": '4217["pong"]',
        "other-namespace": '42/admin,["user_online",{}]',
        "user_online": "42" + event_line("user_online", [PROBES["userOnlinePayload"]]),
    }
    for entry in CAPTURED:
        name = entry["event"]
        if not name.startswith("(") and name not in frames:
            frames[name] = "42" + event_line(name, entry["args"])
    for name, text in frames.items():
        write(out, name, text)
    return len(frames)


def keys(value, out):
    if isinstance(value, dict):
        for key, child in value.items():
            out.add(key)
            keys(child, out)
    elif isinstance(value, list):
        for child in value:
            keys(child, out)


def dictionary():
    """libFuzzer tokens: event names, JSON keys of every payload, script steps, hostile text."""
    names = {e["event"] for e in CAPTURED if not e["event"].startswith("(")}
    names |= set(PROBE_EVENTS.values()) | {
        "message", "invalid_token", "daily_logs", "item_added", "library_updated",
        "library_removed", "episode_download_finished", "backup_applied", "user_removed",
    }
    found = set()
    keys(CAPTURED, found)
    keys(PROBES, found)
    tokens = {f'"{n}"' for n in names} | {f'["{n}",' for n in names} | {n + "\n" for n in names}
    tokens |= {f'"{k}":' for k in found if k.isidentifier()}
    tokens |= {"42[", "42/", "40", "44", '0{"sid":', '"pingInterval":', '"pingTimeout":',
               "+1000", "+600000", "!c", "!o", "!a", '?{"users":', '"forbidden"', '#{"',
               r"\u202e", r"\u0007", "\u202e", "\u0007", "\n", "null", "true", "1e308", "-1", "18446744073709551616"}
    lines = []
    for token in sorted(tokens):
        escaped = "".join(chr(b) if 0x20 <= b < 0x7F and chr(b) not in '"\\' else f"\\x{b:02x}"
                          for b in token.encode())
        lines.append(f'"{escaped}"')
    (HERE / "abs.dict").write_text("\n".join(lines) + "\n")
    return len(lines)


if __name__ == "__main__":
    print(f"decode: {decode_seeds()} seeds, packet: {packet_seeds()} seeds, "
          f"policy: {policy_seeds()} seeds, dictionary: {dictionary()} tokens")
