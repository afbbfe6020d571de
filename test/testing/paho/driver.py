#!/usr/bin/python3
"""One paho-mqtt MQTT 5 client, driven by JSON lines on stdin, reporting JSON lines on stdout.

An independent MQTT 5 implementation for ticktalk's tests (test/testing/paho.ts spawns it). It runs
under Debian's /usr/bin/python3 with Debian's python3-paho-mqtt (1.6.1).

Every input line is one command object: {"cmd": "connect" | "subscribe" | "unsubscribe" |
"publish" | "disconnect" | "close" | "release_acks" | "pause" | "resume", "id": <any>, ...}.
Each command is answered by {"event": "result", "id", "command", ...} or {"event": "error", "id",
"command", "message"}; what the server sends back arrives later as its own event (connack,
suback, unsuback, puback, pubrec, pubcomp, published, message, disconnect, closed), and a packet
paho cannot parse as an error event with a null id. Property keys are paho's names
("SessionExpiryInterval", "UserProperty" as [[key, value], ...], binary ones as hex).

paho 1.6.1 leaves some MQTT 5 details out of its callbacks; DriverClient reads them off the packets:
  - on_publish gets only the packet id: PUBACK / PUBREC / PUBCOMP reason codes and properties are
    decoded here and reported as puback / pubrec / pubcomp events;
  - a server DISCONNECT without properties (remaining length 1 or 2) reaches on_disconnect as a
    lost connection with no reason code: the packet is decoded here and reported as a disconnect
    event before the closed event;
  - inbound topic aliases are not resolved by paho (the message topic is the wire topic, "" when
    an established alias is used): the driver resolves them per connection, keeping the wire topic.
On stdin EOF the client disconnects normally (no will) and the process exits 0. PAHO_DRIVER_LOG=1
in the environment logs paho's packets on stderr.
"""

import base64
import json
import logging
import os
import socket
import sys
import threading

import paho.mqtt
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCodes
from paho.mqtt.subscribeoptions import SubscribeOptions

BINARY_PROPERTIES = ("CorrelationData", "AuthenticationData")
ACK_PACKET_TYPES = {
    mqtt.PUBACK: ("puback", PacketTypes.PUBACK),
    mqtt.PUBREC: ("pubrec", PacketTypes.PUBREC),
    mqtt.PUBCOMP: ("pubcomp", PacketTypes.PUBCOMP),
}


class Output:
    """JSON lines on stdout, one writer at a time (paho's network thread and the command loop)."""

    def __init__(self, stream):
        self._stream = stream
        self._lock = threading.Lock()
        self._broken = False

    def emit(self, event, **fields):
        line = json.dumps({"event": event, **fields}, separators=(",", ":")) + "\n"
        with self._lock:
            if self._broken:
                return
            try:
                self._stream.write(line)
                self._stream.flush()
            except (BrokenPipeError, ValueError):
                self._broken = True  # the test runner went away; the stdin EOF that follows ends us


# ---- conversions between JSON and paho's objects ----------------------------------------------


def properties_to_json(props):
    """A paho Properties (or None) as a plain dict keyed by paho's property names."""
    if props is None:
        return {}
    data = {}
    for spaced_name in props.names:
        name = spaced_name.replace(" ", "")
        if not hasattr(props, name):
            continue
        value = getattr(props, name)
        if isinstance(value, (bytes, bytearray)):
            value = value.hex()
        elif name == "UserProperty":
            value = [[key, val] for key, val in value]
        data[name] = value
    return data


def properties_from_json(packet_type, data, unchecked=False):
    """A paho Properties for `packet_type` from a dict (None when empty).

    `unchecked` skips paho's range checks (TopicAlias 0, ReceiveMaximum 0...), so a test can send
    a value the server must reject.
    """
    if not data:
        return None
    props = Properties(packet_type)
    for name, value in data.items():
        if name in BINARY_PROPERTIES and isinstance(value, str):
            value = bytes.fromhex(value)
        elif name == "UserProperty":
            value = [(key, val) for key, val in value]
        if unchecked:
            if props.allowsMultiple(name) and not isinstance(value, list):
                value = [value]
            object.__setattr__(props, name, value)
        else:
            setattr(props, name, value)
    return props


def reason_json(packet_type, code):
    """(value, name) of a paho ReasonCodes, a bare int reason code, or an int paho error code."""
    if isinstance(code, ReasonCodes):
        return code.value, code.getName()
    if code is None:
        return 0, "Success"
    try:
        return code, ReasonCodes(packet_type, identifier=code).getName()
    except Exception:  # paho's own error codes (MQTT_ERR_CONN_LOST...) are not reason codes
        return code, mqtt.error_string(code)


def payload_bytes(spec):
    """The payload of a publish or will command: `payload_base64`, else `payload` as UTF-8."""
    if spec.get("payload_base64") is not None:
        return base64.b64decode(spec["payload_base64"])
    return (spec.get("payload") or "").encode("utf-8")


def payload_json(payload):
    """A received payload: always base64, and as text when it is valid UTF-8."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    return {"payload": text, "payload_base64": base64.b64encode(payload).decode("ascii")}


# ---- the client -------------------------------------------------------------------------------


class DriverClient(mqtt.Client):
    """paho's client, plus the MQTT 5 details its 1.6.1 callbacks leave out (see module doc)."""

    def __init__(self, out, hold_acks, **kwargs):
        super().__init__(**kwargs)
        self._out = out
        self._hold_acks = hold_acks
        self._held_acks = []
        self._held_lock = threading.Lock()
        self.inbound_aliases = {}

    def _packet_handle(self):
        # A packet paho cannot parse (or a callback that fails) would end paho's network thread
        # silently: it is reported instead, and the connection closed as a protocol error.
        command = self._in_packet["command"] & 0xF0
        try:
            body = bytes(self._in_packet["packet"])
            if command in ACK_PACKET_TYPES:
                self._report_ack(command, body)
            elif command == mqtt.DISCONNECT:
                self._report_server_disconnect(body)
            return super()._packet_handle()
        except Exception as err:
            message = "packet 0x%02x from the server: %s: %s" % (command, type(err).__name__, err)
            self._out.emit("error", id=None, command=None, message=message)
            return mqtt.MQTT_ERR_PROTOCOL

    def _report_ack(self, command, body):
        event, packet_type = ACK_PACKET_TYPES[command]
        if len(body) < 2:
            return  # malformed: paho's own handler reports the protocol error
        mid = int.from_bytes(body[:2], "big")
        code = body[2] if len(body) > 2 else 0
        properties = self._unpack_properties(packet_type, body[3:])
        value, name = reason_json(packet_type, code)
        self._out.emit(event, mid=mid, reason_code=value, reason_name=name, properties=properties)

    def _report_server_disconnect(self, body):
        code = body[0] if body else 0
        properties = self._unpack_properties(PacketTypes.DISCONNECT, body[1:])
        value, name = reason_json(PacketTypes.DISCONNECT, code)
        self._out.emit("disconnect", reason_code=value, reason_name=name, properties=properties)

    @staticmethod
    def _unpack_properties(packet_type, buffer):
        if not buffer:
            return {}
        props = Properties(packet_type)
        props.unpack(buffer)
        return properties_to_json(props)

    # With hold_acks, acknowledgements of inbound QoS 1/2 messages wait for release_acks: the
    # server's side of the client's Receive Maximum can be observed.
    def _send_puback(self, mid):
        return self._send_or_hold(mqtt.PUBACK, mid)

    def _send_pubrec(self, mid):
        return self._send_or_hold(mqtt.PUBREC, mid)

    def _send_or_hold(self, command, mid):
        with self._held_lock:
            if self._hold_acks:
                self._held_acks.append((command, mid))
                return mqtt.MQTT_ERR_SUCCESS
        return self._send_command_with_mid(command, mid, False)

    def release_acks(self, keep_holding):
        with self._held_lock:
            held, self._held_acks = self._held_acks, []
            self._hold_acks = keep_holding
        for command, mid in held:
            self._send_command_with_mid(command, mid, False)
        return len(held)


class Session:
    """The command handlers; one paho client per connect (a reconnect starts a fresh one)."""

    def __init__(self, out):
        self.out = out
        self.client = None

    # -- connection --

    def connect(self, cmd):
        # A connection still open is dropped without DISCONNECT (its will, if any, goes out).
        self._discard_client()
        transport = cmd.get("transport", "tcp")
        client = DriverClient(
            self.out,
            bool(cmd.get("hold_acks", False)),
            client_id=cmd.get("client_id", ""),
            protocol=mqtt.MQTTv5,
            transport=transport,
            reconnect_on_failure=False,
        )
        if os.environ.get("PAHO_DRIVER_LOG"):
            client.enable_logger(logging.getLogger("paho"))
        if transport == "websockets":
            client.ws_set_options(path=cmd.get("path", "/mqtt"))
        if cmd.get("username") is not None:
            client.username_pw_set(cmd["username"], cmd.get("password"))
        self._set_will(client, cmd.get("will"))
        client.max_inflight_messages_set(cmd.get("max_inflight", 20))
        self._set_callbacks(client)
        unchecked = bool(cmd.get("unchecked_properties", False))
        client.connect(
            cmd.get("host", "127.0.0.1"),
            cmd["port"],
            keepalive=cmd.get("keepalive", 60),
            clean_start=cmd.get("clean_start", True),
            properties=properties_from_json(PacketTypes.CONNECT, cmd.get("properties"), unchecked),
        )
        client.loop_start()
        self.client = client
        return {}

    @staticmethod
    def _set_will(client, will):
        if not will:
            return
        client.will_set(
            will["topic"],
            payload_bytes(will),
            qos=will.get("qos", 0),
            retain=bool(will.get("retain", False)),
            properties=properties_from_json(PacketTypes.WILLMESSAGE, will.get("properties")),
        )

    def _set_callbacks(self, client):
        out = self.out

        def on_connect(_client, _userdata, flags, reason, properties):
            value, name = reason_json(PacketTypes.CONNACK, reason)
            out.emit(
                "connack",
                reason_code=value,
                reason_name=name,
                session_present=bool(flags.get("session present")),
                properties=properties_to_json(properties),
            )

        def on_subscribe(_client, _userdata, mid, reason_codes, properties):
            props = properties_to_json(properties)
            out.emit("suback", mid=mid, **self._reason_list(reason_codes), properties=props)

        def on_unsubscribe(_client, _userdata, mid, properties, reason_codes):
            props = properties_to_json(properties)
            out.emit("unsuback", mid=mid, **self._reason_list(reason_codes), properties=props)

        def on_publish(_client, _userdata, mid):
            out.emit("published", mid=mid)

        def on_disconnect(_client, _userdata, rc, _properties):
            value, name = reason_json(PacketTypes.DISCONNECT, rc)
            out.emit("closed", reason_code=value, reason_name=name)

        client.on_connect = on_connect
        client.on_subscribe = on_subscribe
        client.on_unsubscribe = on_unsubscribe
        client.on_publish = on_publish
        client.on_message = lambda c, _ud, msg: out.emit("message", **self._message_json(c, msg))
        client.on_disconnect = on_disconnect

    @staticmethod
    def _reason_list(reason_codes):
        codes = reason_codes if isinstance(reason_codes, list) else [reason_codes]
        return {
            "reason_codes": [c.value for c in codes],
            "reason_names": [c.getName() for c in codes],
        }

    @staticmethod
    def _message_json(client, message):
        properties = properties_to_json(getattr(message, "properties", None))
        wire_topic = message._topic.decode("utf-8", errors="replace")
        topic = wire_topic
        alias = properties.get("TopicAlias")
        if alias is not None:
            if wire_topic:
                client.inbound_aliases[alias] = wire_topic
            else:
                topic = client.inbound_aliases.get(alias, "")
        return {
            "topic": topic,
            "wire_topic": wire_topic,
            **payload_json(message.payload),
            "qos": message.qos,
            "retain": bool(message.retain),
            "dup": bool(message.dup),
            "mid": message.mid,
            "properties": properties,
        }

    def disconnect(self, cmd):
        client = self._connected_client()
        self._ensure_loop(client)
        reason = ReasonCodes(PacketTypes.DISCONNECT, identifier=cmd.get("reason_code", 0))
        props = properties_from_json(PacketTypes.DISCONNECT, cmd.get("properties"))
        rc = client.disconnect(reasoncode=reason, properties=props)
        if rc != mqtt.MQTT_ERR_SUCCESS:
            raise RuntimeError(mqtt.error_string(rc))
        return {}

    def close(self, _cmd):
        """Drop the TCP connection without DISCONNECT (the server publishes the will)."""
        client = self._connected_client()
        if client.socket() is None:
            raise RuntimeError("the connection is already closed")
        self._ensure_loop(client)  # the loop reports the closed connection
        self._drop_connection(client)
        return {}

    @staticmethod
    def _drop_connection(client):
        sock = client.socket()
        if sock is None:
            return
        raw = getattr(sock, "_socket", sock)  # the TCP socket under a WebsocketWrapper
        try:
            raw.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already gone

    def pause(self, cmd):
        """Stop paho's network loop, the connection left open: nothing is read, acknowledged or
        sent (no PINGREQ either) until resume, as from a client that has hung."""
        client = self._connected_client()
        thread = client._thread
        if thread is None:
            raise RuntimeError("already paused")
        client._thread_terminate = True  # paho's loop ends once its outgoing queue is empty
        client._sockpairW.send(mqtt.sockpair_data)  # wakes its select() now, not after 1 s
        thread.join(timeout=cmd.get("timeout_s", 2))
        if thread.is_alive():
            client._thread_terminate = False
            raise RuntimeError("paho's loop did not stop: publishes still in flight")
        client._thread = None
        return {}

    def resume(self, _cmd):
        client = self._connected_client()
        if client._thread is not None:
            raise RuntimeError("not paused")
        client.loop_start()
        return {}

    @staticmethod
    def _ensure_loop(client):
        if client._thread is None:  # paused: the loop must run for what comes next to happen
            client.loop_start()

    def _discard_client(self):
        if self.client is None:
            return
        client, self.client = self.client, None
        self._drop_connection(client)
        client.loop_stop()

    def _connected_client(self):
        if self.client is None:
            raise RuntimeError("not connected: send connect first")
        return self.client

    # -- messaging --

    def subscribe(self, cmd):
        filters = [
            (
                f["topic"],
                SubscribeOptions(
                    qos=f.get("qos", 0),
                    noLocal=bool(f.get("no_local", False)),
                    retainAsPublished=bool(f.get("retain_as_published", False)),
                    retainHandling=f.get("retain_handling", 0),
                ),
            )
            for f in cmd["filters"]
        ]
        props = properties_from_json(PacketTypes.SUBSCRIBE, cmd.get("properties"))
        rc, mid = self._connected_client().subscribe(filters, properties=props)
        return self._queued(rc, mid)

    def unsubscribe(self, cmd):
        props = properties_from_json(PacketTypes.UNSUBSCRIBE, cmd.get("properties"))
        rc, mid = self._connected_client().unsubscribe(list(cmd["topics"]), properties=props)
        return self._queued(rc, mid)

    def publish(self, cmd):
        unchecked = bool(cmd.get("unchecked_properties", False))
        info = self._connected_client().publish(
            cmd["topic"],
            payload_bytes(cmd),
            qos=cmd.get("qos", 0),
            retain=bool(cmd.get("retain", False)),
            properties=properties_from_json(PacketTypes.PUBLISH, cmd.get("properties"), unchecked),
        )
        return self._queued(info.rc, info.mid)

    def release_acks(self, cmd):
        released = self._connected_client().release_acks(bool(cmd.get("keep_holding", False)))
        return {"released": released}

    @staticmethod
    def _queued(rc, mid):
        if rc != mqtt.MQTT_ERR_SUCCESS:
            raise RuntimeError(mqtt.error_string(rc))
        return {"mid": mid}

    def shutdown(self):
        """stdin EOF: a normal DISCONNECT when still connected, then stop paho's thread."""
        client, self.client = self.client, None
        if client is None:
            return
        if client.is_connected():
            self._ensure_loop(client)
            client.disconnect()
        client.loop_stop()


def run(session, out, lines):
    handlers = {
        "connect": session.connect,
        "subscribe": session.subscribe,
        "unsubscribe": session.unsubscribe,
        "publish": session.publish,
        "disconnect": session.disconnect,
        "close": session.close,
        "release_acks": session.release_acks,
        "pause": session.pause,
        "resume": session.resume,
    }
    for line in lines:
        if not line.strip():
            continue
        cmd_id, name = None, None
        try:
            cmd = json.loads(line)
            cmd_id, name = cmd.get("id"), cmd.get("cmd")
            handler = handlers.get(name)
            if handler is None:
                raise ValueError("unknown command %r" % (name,))
            out.emit("result", id=cmd_id, command=name, **handler(cmd))
        except Exception as err:  # every failure is reported; the driver keeps serving
            out.emit("error", id=cmd_id, command=name, message="%s: %s" % (type(err).__name__, err))


def main():
    if os.environ.get("PAHO_DRIVER_LOG"):  # paho's packet log on stderr, for debugging a test
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
    out = Output(sys.stdout)
    session = Session(out)
    out.emit("ready", paho_version=paho.mqtt.__version__, python=sys.version.split()[0])
    try:
        run(session, out, sys.stdin)
    finally:
        session.shutdown()


if __name__ == "__main__":
    main()
