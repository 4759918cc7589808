#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A minimal client of the vdpa generic netlink family, for what the
installed iproute2 `vdpa` tool may not pass (bookworm's 6.1 has no
`device_features`).

Usage: vdpa_nl.py dev-add BUS DEVNAME NAME FEATURES
  Creates vDPA device NAME on management device BUS/DEVNAME offering the
  features FEATURES (a number, 0x... accepted). Exits 0 when the kernel
  accepted it; otherwise prints the errno's name and exits 1. BUS "-" is
  a management device on no bus (the C simulators' root devices).

Usage: vdpa_nl.py mgmtdev-features BUS DEVNAME
  Prints the features management device BUS/DEVNAME supports, in hex (what
  its devices offer when none are asked for).
"""

import errno
import os
import socket
import struct
import sys

NETLINK_GENERIC = 16
GENL_ID_CTRL = 0x10
CTRL_CMD_GETFAMILY = 3
CTRL_ATTR_FAMILY_ID = 1
CTRL_ATTR_FAMILY_NAME = 2
NLM_F_REQUEST = 1
NLM_F_ACK = 4
NLMSG_ERROR = 2

VDPA_CMD_MGMTDEV_GET = 2
VDPA_CMD_DEV_NEW = 3
VDPA_ATTR_MGMTDEV_BUS_NAME = 1
VDPA_ATTR_MGMTDEV_DEV_NAME = 2
VDPA_ATTR_DEV_NAME = 4
VDPA_ATTR_DEV_SUPPORTED_FEATURES = 16
VDPA_ATTR_DEV_FEATURES = 20


def attr(kind, payload):
    """One netlink attribute, padded to 4 bytes."""
    head = struct.pack("=HH", 4 + len(payload), kind)
    return head + payload + b"\0" * (-len(payload) % 4)


def string(kind, s):
    return attr(kind, s.encode() + b"\0")


def request(sock, family, cmd, attrs, seq):
    """Sends a generic netlink request; returns the reply's payload or
    raises OSError with the kernel's errno."""
    body = struct.pack("=BBH", cmd, 1, 0) + b"".join(attrs)
    msg = struct.pack("=IHHII", 16 + len(body), family, NLM_F_REQUEST | NLM_F_ACK, seq, 0) + body
    sock.send(msg)
    payload = None
    while True:
        data = sock.recv(65536)
        off = 0
        while off + 16 <= len(data):
            length, kind = struct.unpack_from("=IH", data, off)
            if kind == NLMSG_ERROR:
                (err,) = struct.unpack_from("=i", data, off + 16)
                if err:
                    raise OSError(-err, os.strerror(-err))
                return payload  # the ack ends the answer
            payload = data[off + 16:off + length]
            off += (length + 3) & ~3


def family_id(sock, name):
    reply = request(sock, GENL_ID_CTRL, CTRL_CMD_GETFAMILY,
                    [string(CTRL_ATTR_FAMILY_NAME, name)], 1)
    off = 4  # the genl header
    while reply and off + 4 <= len(reply):
        length, kind = struct.unpack_from("=HH", reply, off)
        if kind == CTRL_ATTR_FAMILY_ID:
            return struct.unpack_from("=H", reply, off + 4)[0]
        off += (length + 3) & ~3
    raise OSError(errno.ENOENT, "no vdpa netlink family")


def find_attr(reply, kind):
    """The payload of attribute kind in a generic netlink reply, or None."""
    off = 4  # the genl header
    while reply and off + 4 <= len(reply):
        length, k = struct.unpack_from("=HH", reply, off)
        if k == kind:
            return reply[off + 4:off + length]
        off += (length + 3) & ~3
    return None


def mgmtdev_features(bus, devname):
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
    sock.bind((0, 0))
    try:
        fam = family_id(sock, "vdpa")
        reply = request(sock, fam, VDPA_CMD_MGMTDEV_GET, [
            string(VDPA_ATTR_MGMTDEV_BUS_NAME, bus) if bus != "-" else b"",
            string(VDPA_ATTR_MGMTDEV_DEV_NAME, devname),
        ], 2)
    except OSError as e:
        print(errno.errorcode.get(e.errno, str(e.errno)))
        return 1
    value = find_attr(reply, VDPA_ATTR_DEV_SUPPORTED_FEATURES)
    if value is None or len(value) < 8:
        print("ENOENT")
        return 1
    print(hex(struct.unpack_from("=Q", value)[0]))
    return 0


def main(argv):
    if len(argv) == 4 and argv[1] == "mgmtdev-features":
        return mgmtdev_features(argv[2], argv[3])
    if len(argv) != 6 or argv[1] != "dev-add":
        print(__doc__.strip(), file=sys.stderr)
        return 2
    bus, devname, name, features = argv[2], argv[3], argv[4], int(argv[5], 0)
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
    sock.bind((0, 0))
    try:
        fam = family_id(sock, "vdpa")
        request(sock, fam, VDPA_CMD_DEV_NEW, [
            string(VDPA_ATTR_MGMTDEV_BUS_NAME, bus) if bus != "-" else b"",
            string(VDPA_ATTR_MGMTDEV_DEV_NAME, devname),
            string(VDPA_ATTR_DEV_NAME, name),
            attr(VDPA_ATTR_DEV_FEATURES, struct.pack("=Q", features)),
        ], 2)
    except OSError as e:
        print(errno.errorcode.get(e.errno, str(e.errno)))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
