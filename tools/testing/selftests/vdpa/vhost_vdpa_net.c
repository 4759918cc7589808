// SPDX-License-Identifier: GPL-2.0
/*
 * vhost_vdpa_net: drives a vDPA net device from userspace through
 * /dev/vhost-vdpa-N, the way a VMM does, and checks what comes back. The
 * vhost-vdpa driver itself is in vhost_vdpa_lib.c.
 *
 * Usage: vhost_vdpa_net /dev/vhost-vdpa-N PREFIX
 *
 * Needs a locked-memory limit of at least 3 MiB (ulimit -l): vhost-vdpa pins
 * the pages it maps.
 *
 * The sequence: owner, backend features (IOTLB v2 messages, ASIDs, suspend),
 * device features (with the control virtqueue and its MAC address command),
 * IOTLB v2 mappings of the rings and buffers, vring num/addr/base/kick/call/
 * enable, status up to DRIVER_OK. The data queues (RX 0, TX 1) and their
 * buffers are in address space 0; the control queue (2) is in a group of its
 * own, which is put in address space 1, where its ring and command buffers
 * alone are mapped, as a VMM that shadows the control queue does.
 *
 * Frames sent on the TX queue must come back on the RX queue byte for byte.
 * Bad requests (a queue index out of range, a ring size that is not a power
 * of two, an IOVA range that wraps, an unknown ASID or group) must be
 * refused, a suspended device must hold its frames until it resumes, a reset
 * device must work again after a new setup, and malformed descriptor chains
 * (a loop, a buffer past the mappings, an oversized indirect table, a
 * writable buffer where a readable one is due) must deliver nothing and leave
 * a device that works again after a reset. A MAC address set through the
 * control queue must be acked, read back from the config space, and filter
 * the frames: the new address is delivered, the old one is not. With the
 * memory unmapped nothing is delivered, and with address space 1 unmapped a
 * control command is not completed even though its memory is mapped, at the
 * same IOVAs, in address space 0 (the device must not reach another address
 * space's memory). Output is KTAP; PREFIX starts each test name.
 */
#include <errno.h>
#include <linux/virtio_net.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "vhost_vdpa_lib.h"

#define NTESTS 24
#define MEM_SIZE (2u << 20)
#define IOVA_BASE 0x40000000ull
#define CVQ_SIZE (64u << 10)
#define CVQ_IOVA 0x80000000ull
#define BUF_SIZE 2048
#define NRX 32
#define HDR_LEN 12 /* struct virtio_net_hdr_v1 */
#define RXQ 0
#define TXQ 1
#define CVQ 2
#define FEATURES (1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_F_ACCESS_PLATFORM | \
		  1ull << VIRTIO_NET_F_MAC | 1ull << VIRTIO_NET_F_CTRL_VQ |       \
		  1ull << VIRTIO_NET_F_CTRL_MAC_ADDR)

/* The data memory (address space 0) and the control queue's (space 1). */
static uint8_t *mem, *cvq_mem;
/* The MAC address frames are sent to. */
static uint8_t mac[6];

static uint8_t *buf(int q, int i)
{
	return mem + 64 * 1024 + (q * QSIZE + i) * BUF_SIZE;
}

/* The buffer the next chain posted on a queue uses (one buffer per slot). */
static uint8_t *next_buf(struct dev *d, int q)
{
	return buf(q, d->rings[q].avail_idx % QSIZE);
}

/* Posts the next slot's buffer and kicks. */
static void post_buf(struct dev *d, int q, uint32_t len, int writable)
{
	post(d, q, next_buf(d, q), len, writable);
}

static void make_frame(uint8_t *f, int len, int seq)
{
	int i;

	memset(f, 0, HDR_LEN);
	memcpy(f + HDR_LEN, mac, 6);
	memcpy(f + HDR_LEN + 6, "\x02\x11\x22\x33\x44\x55", 6);
	f[HDR_LEN + 12] = 0x88;
	f[HDR_LEN + 13] = 0xb5;
	for (i = HDR_LEN + 14; i < HDR_LEN + len; i++)
		f[i] = (uint8_t)(seq * 13 + i);
}

/* Sends frames of several sizes; returns how many came back intact. */
static int traffic(struct dev *d, int nframes, int *sent)
{
	int i, back = 0;

	for (i = 0; i < NRX; i++)
		post_buf(d, RXQ, BUF_SIZE, 1);
	for (i = 0; i < nframes; i++) {
		int len = 60 + (i * 97) % 1455, got;
		uint8_t *f = next_buf(d, TXQ);
		uint16_t id;

		make_frame(f, len, i);
		post_buf(d, TXQ, HDR_LEN + len, 0);
		got = wait_used(d, RXQ, 2000, &id);
		if (got == HDR_LEN + len && id < QSIZE &&
		    !memcmp(buf(RXQ, id) + HDR_LEN, f + HDR_LEN, len))
			back++;
		if (got >= 0)
			post_buf(d, RXQ, BUF_SIZE, 1);
		wait_used(d, TXQ, 2000, &id);
	}
	*sent = nframes;
	return back;
}

/* Sends one frame to mac; returns the length it came back with, or -1. */
static int one_frame(struct dev *d, int len, int seq, int timeout_ms)
{
	uint8_t *f = next_buf(d, TXQ);
	uint16_t id;
	int got;

	make_frame(f, len, seq);
	post_buf(d, TXQ, HDR_LEN + len, 0);
	got = wait_used(d, RXQ, timeout_ms, &id);
	wait_used(d, TXQ, 2000, &id);
	return got;
}

/*
 * Sends VIRTIO_NET_CTRL_MAC_ADDR_SET on the control queue: the command (class,
 * command, address) in one readable buffer, the ack in a writable byte.
 * Returns the ack, or -1 when the command is not completed in time.
 */
static int set_mac(struct dev *d, const uint8_t *addr, int timeout_ms)
{
	uint8_t *cmd = cvq_mem + 16 * 1024, *ack = cmd + 64;
	struct vring_desc c[2] = {
		{ .addr = iova(d, cmd), .len = 8, .flags = VRING_DESC_F_NEXT, .next = 1 },
		{ .addr = iova(d, ack), .len = 1, .flags = VRING_DESC_F_WRITE },
	};
	uint16_t id;
	int got;

	cmd[0] = VIRTIO_NET_CTRL_MAC;
	cmd[1] = VIRTIO_NET_CTRL_MAC_ADDR_SET;
	memcpy(cmd + 2, addr, 6);
	*ack = 0xff;
	post_chain(d, CVQ, 0, c, 2);
	got = wait_used(d, CVQ, timeout_ms, &id);
	return got == 1 ? *(volatile uint8_t *)ack : -1;
}

static const char *mac_str(const uint8_t *a)
{
	static char s[2][18];
	static int n;
	char *p = s[n++ % 2];

	snprintf(p, 18, "%02x:%02x:%02x:%02x:%02x:%02x", a[0], a[1], a[2], a[3], a[4], a[5]);
	return p;
}

int main(int argc, char **argv)
{
	static const uint8_t new_mac[6] = { 0x02, 0x52, 0x56, 0xaa, 0xbb, 0xcc };
	static const uint8_t other_mac[6] = { 0x02, 0x52, 0x56, 0x44, 0x55, 0x66 };
	struct dev d = { 0 };
	uint8_t old_mac[6], cfg_mac[6];
	uint64_t bf, want_bf, f;
	int r, sent, back;
	const char *path;

	path = ktap_begin(argc, argv, NTESTS);
	mem = add_region(&d, MEM_SIZE, IOVA_BASE, 0);
	cvq_mem = add_region(&d, CVQ_SIZE, CVQ_IOVA, 1);
	place_ring(&d, RXQ, 0, 0);
	place_ring(&d, TXQ, 0, 4 * PAGE);
	place_ring(&d, CVQ, 1, 0);

	r = dev_open(&d, path, 3);
	result(!r && d.id == VIRTIO_ID_NET && d.nvqs >= 3, "owner, device id %u, %u queues", d.id,
	       d.nvqs);

	want_bf = 1ull << VHOST_BACKEND_F_IOTLB_MSG_V2 | 1ull << VHOST_BACKEND_F_IOTLB_ASID |
		  1ull << VHOST_BACKEND_F_SUSPEND | 1ull << VHOST_BACKEND_F_RESUME;
	r = negotiate_backend(&d, want_bf, &bf);
	result(!r && bf == want_bf, "backend features 0x%llx", (unsigned long long)bf);

	r = ioctl(d.fd, VHOST_GET_FEATURES, &f);
	d.features = f & FEATURES;
	result(!r && d.features == FEATURES,
	       "device offers VERSION_1, ACCESS_PLATFORM, MAC, CTRL_VQ, CTRL_MAC_ADDR");

	r = iotlb(&d, VHOST_IOTLB_UPDATE, 0, IOVA_BASE, MEM_SIZE, (uintptr_t)mem);
	result(!r, "IOTLB v2 update maps the memory (%d)", r);

	/* Bad requests are refused. */
	{
		struct vhost_vring_state s = { d.nvqs, QSIZE };

		r = ioctl(d.fd, VHOST_SET_VRING_NUM, &s);
		result(r && errno == ENOBUFS, "queue index %u out of range is refused (%s)", d.nvqs,
		       strerror(errno));
		s.index = 0;
		s.num = 100;
		r = ioctl(d.fd, VHOST_SET_VRING_NUM, &s);
		result(r && errno == EINVAL, "ring size 100 is refused (%s)", strerror(errno));
	}
	r = iotlb(&d, VHOST_IOTLB_UPDATE, 0, ~0ull - 0xfff, 0x2000, (uintptr_t)mem);
	result(r < 0, "an IOVA range that wraps is refused (%d)", r);
	r = iotlb(&d, VHOST_IOTLB_UPDATE, 64, IOVA_BASE, 4096, (uintptr_t)mem);
	result(r < 0, "an unknown ASID is refused (%d)", r);
	{
		struct vhost_vring_state g = { 64, 0 };

		r = ioctl(d.fd, VHOST_VDPA_SET_GROUP_ASID, &g);
		result(r < 0, "an unknown group is refused (%s)", strerror(errno));
	}

	/*
	 * The control queue's group goes to address space 1, which setup does
	 * after every reset. Were it the data queues' group, they would move
	 * too: then it stays in space 0, and the control queue tests fail.
	 */
	{
		struct vhost_vring_state g[3] = { { RXQ, 0 }, { TXQ, 0 }, { CVQ, 0 } }, a;

		r = ioctl(d.fd, VHOST_VDPA_GET_VRING_GROUP, &g[0]) ||
		    ioctl(d.fd, VHOST_VDPA_GET_VRING_GROUP, &g[1]) ||
		    ioctl(d.fd, VHOST_VDPA_GET_VRING_GROUP, &g[2]);
		r = r || g[0].num != g[1].num || g[2].num == g[0].num || g[2].num >= MAX_GROUPS;
		a = (struct vhost_vring_state){ g[2].num, 1 };
		r = r || ioctl(d.fd, VHOST_VDPA_SET_GROUP_ASID, &a);
		if (!r)
			d.group_asid[g[2].num] = 1;
		result(!r, "the control queue is in group %u, the data queues in %u; ASID 1 is set",
		       g[2].num, g[0].num);
	}

	r = get_config(&d, 0, old_mac, 6);
	memcpy(mac, old_mac, 6);
	r = r ? r : setup(&d);
	result(!r, "setup up to DRIVER_OK (%d)", r);

	back = traffic(&d, 40, &sent);
	result(back == sent, "%d of %d frames came back intact", back, sent);

	/* A suspended device holds its frames until it resumes. */
	{
		uint8_t *fr = next_buf(&d, TXQ);
		uint16_t uid;
		int early, late;

		r = ioctl(d.fd, VHOST_VDPA_SUSPEND);
		make_frame(fr, 100, 1000);
		post_buf(&d, TXQ, HDR_LEN + 100, 0);
		early = wait_used(&d, RXQ, 300, &uid);
		r = r || ioctl(d.fd, VHOST_VDPA_RESUME);
		late = early < 0 ? wait_used(&d, RXQ, 2000, &uid) : -1;
		result(!r && early < 0 && late == HDR_LEN + 100,
		       "suspend holds a frame, resume delivers it (%d, %d)", early, late);
		wait_used(&d, TXQ, 2000, &uid);
	}

	/* After a reset, a new setup works again. */
	r = setup(&d);
	back = r ? 0 : traffic(&d, 10, &sent);
	result(!r && back == sent, "after reset and setup, %d of %d frames came back", back, sent);

	/* Malformed chains deliver nothing; a reset brings the device back. */
	{
		static const char *const what[] = {
			"a descriptor loop", "a buffer past the mappings",
			"an oversized indirect table", "a writable buffer to send",
		};
		unsigned int c;

		for (c = 0; c < ARRAY_SIZE(what); c++) {
			uint8_t *fr = buf(TXQ, 250);
			struct vring_desc bad[1] = { { .addr = iova(&d, fr), .len = HDR_LEN + 60 } };
			uint16_t uid;
			int got, rsent = 0, rback;

			make_frame(fr, 60, 500 + c);
			switch (c) {
			case 0:
				bad[0].flags = VRING_DESC_F_NEXT;
				bad[0].next = 0;
				break;
			case 1:
				bad[0].addr = IOVA_BASE + MEM_SIZE - 16;
				bad[0].len = 4096;
				break;
			case 2:
				bad[0].flags = VRING_DESC_F_INDIRECT;
				bad[0].len = 0x80000000u;
				break;
			case 3:
				bad[0].flags = VRING_DESC_F_WRITE;
				break;
			}
			for (got = 0; got < 4; got++)
				post_buf(&d, RXQ, BUF_SIZE, 1);
			post_chain(&d, TXQ, 240, bad, 1);
			got = wait_used(&d, RXQ, 300, &uid);
			r = setup(&d);
			rback = r ? 0 : traffic(&d, 2, &rsent);
			result(got < 0 && !r && rback == rsent,
			       "%s delivers nothing, and after a reset %d of %d frames come back",
			       what[c], rback, rsent);
		}
	}

	/* The control queue sets the MAC address, and the filter follows it. */
	r = set_mac(&d, new_mac, 2000);
	result(r == VIRTIO_NET_OK, "MAC_ADDR_SET %s on the control queue is acked (%d)",
	       mac_str(new_mac), r);
	r = get_config(&d, 0, cfg_mac, 6);
	result(!r && !memcmp(cfg_mac, new_mac, 6), "the config space then has MAC %s",
	       mac_str(cfg_mac));
	memcpy(mac, new_mac, 6);
	back = traffic(&d, 4, &sent);
	result(back == sent, "%d of %d frames to the new MAC came back", back, sent);
	memcpy(mac, old_mac, 6);
	r = one_frame(&d, 80, 9, 300);
	result(r < 0, "a frame to the old MAC %s is not delivered (%d)", mac_str(old_mac), r);
	memcpy(mac, new_mac, 6);

	/* The ring memory unmapped, the device cannot reach it: nothing comes back. */
	{
		uint8_t *fr = next_buf(&d, TXQ);
		uint16_t uid;
		int got;

		make_frame(fr, 80, 7);
		r = iotlb(&d, VHOST_IOTLB_INVALIDATE, 0, IOVA_BASE, MEM_SIZE, 0);
		post_buf(&d, TXQ, HDR_LEN + 80, 0);
		got = wait_used(&d, RXQ, 300, &uid);
		result(!r && got < 0, "with the memory unmapped nothing is delivered (%d)", got);
	}

	/*
	 * Address space 1 unmapped, the control queue's memory mapped at the
	 * same IOVAs in space 0 instead: the device must not translate the
	 * control queue through space 0, so the command is not completed and
	 * the MAC address stays.
	 */
	{
		int got;

		r = setup(&d);
		r = r || iotlb(&d, VHOST_IOTLB_INVALIDATE, 1, CVQ_IOVA, CVQ_SIZE, 0);
		r = r || iotlb(&d, VHOST_IOTLB_UPDATE, 0, CVQ_IOVA, CVQ_SIZE, (uintptr_t)cvq_mem);
		got = r ? 0 : set_mac(&d, other_mac, 500);
		r = r || get_config(&d, 0, cfg_mac, 6);
		result(!r && got < 0 && !memcmp(cfg_mac, new_mac, 6),
		       "with ASID 1 unmapped a control command is not completed (%d), MAC %s",
		       got, mac_str(cfg_mac));
	}
	set_status(&d, 0);
	close(d.fd);
	return ktap_end();
}
