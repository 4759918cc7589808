// SPDX-License-Identifier: GPL-2.0
/*
 * vhost_vdpa_net: drives a vDPA net device from userspace through
 * /dev/vhost-vdpa-N, the way a VMM does, and checks what comes back. The
 * vhost-vdpa driver itself is in vhost_vdpa_lib.c.
 *
 * Usage: vhost_vdpa_net /dev/vhost-vdpa-N [PEER_IFNAME]
 *        vhost_vdpa_net vfio:UUID | iommufd:UUID
 *        vhost_vdpa_net --plan [PEER_IFNAME|vfio:]
 *
 * The first form runs the tests and reports them through kselftest.h; the
 * second runs them on the vfio_vdpa mdev UUID, through a type1 container or
 * iommufd (the bridge's mode, see vhost_vdpa_lib.h); the third prints how many
 * results the others report (see vdpa_test.h).
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
 * writable buffer where a readable one is due, a loop through an indirect
 * descriptor) must deliver nothing and leave
 * a device that works again after a reset. A MAC address set through the
 * control queue must be acked, read back from the config space, and filter
 * the frames: the new address is delivered, the old one is not. Commands
 * posted with a single kick, as many as the control queue holds (more than
 * a device handles at a time), must all complete. With the
 * memory unmapped nothing is delivered, and with address space 1 unmapped a
 * control command is not completed even though its memory is mapped, at the
 * same IOVAs, in address space 0 (the device must not reach another address
 * space's memory). A thousand enables of a queue that has no size, which
 * the device refuses, must not flood the kernel log (at most 20 lines; the
 * loopback only).
 *
 * Memory that was never mapped must be out of the device's reach whatever its
 * physical address: rings and buffers placed at the physical addresses of
 * the program's own pages (from /proc/self/pagemap) must not be used, on a
 * fresh open, in an address space never mapped while another one is, after
 * a reset and after the file is closed and opened again. (The C simulator
 * run with use_va=0 maps physical memory one to one until the first mapping,
 * so the script has these skipped there: VHOST_VDPA_SKIP_PA gives the
 * reason.)
 *
 * With PEER_IFNAME the program runs in wire mode, for a device that is a
 * network function on a wire rather than a loopback (a virtio-pci function
 * under vp_vdpa or vdpa_rpci, with PEER_IFNAME the interface at the other end
 * of the wire): frames sent on the TX queue must reach a packet socket on the
 * peer intact, and frames the peer sends must arrive intact on the RX queue.
 * What the device does not offer is reported as skipped, with the reason:
 * suspend and resume without the backend features, the control queue's own
 * address space with a single one. Wire mode adds what a function behind the
 * platform IOMMU has: the queues' doorbells mapped into the process and kicked
 * there; a buffer at an IOVA never mapped reaching nothing, and so does one
 * whose mapping is invalidated, with the device working again after a reset;
 * the receive filter following the MAC address once promiscuous mode is off;
 * polling without call eventfds, with every interrupt of the function handled.
 *
 * The bridge's mode adds what VFIO owns: the pinned pages are charged to the
 * process exactly (VmLck through type1, VmPin through iommufd) and all
 * returned at the close, and the rings'
 * memory leaving the container while the device runs stops the traffic,
 * until it is mapped again.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/vfio.h>
#include <linux/vfio_vdpa.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vhost_vdpa_lib.h"

#define ETHERTYPE_TEST 0x88b5 /* IEEE 802 local experimental */
/* An IOVA the device is never given: below IOVA_BASE, in no region. */
#define IOVA_NEVER 0x20000000ull
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
/* The MAC address frames are sent to (the device's). */
static uint8_t mac[6];
/* Wire mode: the peer's packet socket, its MAC address, RX buffers posted. */
static int peer = -1;
static uint8_t peer_mac[6];
static int rx_posted;

static uint8_t *buf(int q, int i)
{
	return mem + 64 * 1024 + (q * QSIZE + i) * BUF_SIZE;
}

/* The buffer the next chain posted on a queue uses (one buffer per slot). */
static uint8_t *next_buf(struct dev *d, int q)
{
	return buf(q, d->rings[q].avail_idx % d->rings[q].num);
}

/* Posts the next slot's buffer and kicks. */
static void post_buf(struct dev *d, int q, uint32_t len, int writable)
{
	post(d, q, next_buf(d, q), len, writable);
}

/* An Ethernet frame of len bytes whose payload depends on seq. */
static void fill_frame(uint8_t *e, int len, int seq, const uint8_t *dst, const uint8_t *src)
{
	int i;

	memcpy(e, dst, 6);
	memcpy(e + 6, src, 6);
	e[12] = ETHERTYPE_TEST >> 8;
	e[13] = ETHERTYPE_TEST & 0xff;
	for (i = 14; i < len; i++)
		e[i] = (uint8_t)(seq * 13 + i + HDR_LEN);
}

/*
 * A frame to send on the TX queue, after its virtio-net header: to the
 * device's own address in loopback mode, to the peer's on a wire.
 */
static void make_frame(uint8_t *f, int len, int seq)
{
	memset(f, 0, HDR_LEN);
	if (peer < 0)
		fill_frame(f + HDR_LEN, len, seq, mac, (const uint8_t *)"\x02\x11\x22\x33\x44\x55");
	else
		fill_frame(f + HDR_LEN, len, seq, peer_mac, mac);
}

/* Opens a packet socket for the test frames on the peer interface. */
static int peer_open(const char *ifname)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETHERTYPE_TEST) };
	struct ifreq ifr = { 0 };

	peer = socket(AF_PACKET, SOCK_RAW, htons(ETHERTYPE_TEST));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	if (peer < 0 || ioctl(peer, SIOCGIFINDEX, &ifr))
		return -errno;
	sll.sll_ifindex = ifr.ifr_ifindex;
	if (ioctl(peer, SIOCGIFHWADDR, &ifr) || bind(peer, (void *)&sll, sizeof(sll)))
		return -errno;
	memcpy(peer_mac, ifr.ifr_hwaddr.sa_data, 6);
	return 0;
}

/*
 * Waits for a test frame the peer receives: one equal to the len bytes of e,
 * or any when e is NULL. Frames the peer sends itself and stale ones are
 * passed over. Returns 1 when it came, 0 when it did not in time.
 */
static int peer_got(const uint8_t *e, int len, int timeout_ms)
{
	static uint8_t in[BUF_SIZE];
	int waited;

	for (waited = 0; waited < timeout_ms; waited += 10) {
		struct pollfd p = { peer, POLLIN, 0 };
		struct sockaddr_ll from;
		socklen_t fl = sizeof(from);
		ssize_t n;

		if (poll(&p, 1, 10) <= 0)
			continue;
		n = recvfrom(peer, in, sizeof(in), 0, (void *)&from, &fl);
		if (n < 0 || from.sll_pkttype == PACKET_OUTGOING)
			continue;
		if (!e || (n == len && !memcmp(in, e, len)))
			return 1;
	}
	return 0;
}

/* Drops what the peer's socket holds. */
static void peer_drain(void)
{
	uint8_t in[BUF_SIZE];

	while (recv(peer, in, sizeof(in), MSG_DONTWAIT) >= 0)
		;
}

/* Keeps NRX buffers posted on the RX queue. */
static void rx_fill(struct dev *d)
{
	for (; rx_posted < NRX; rx_posted++)
		post(d, RXQ, next_buf(d, RXQ), BUF_SIZE, 1);
}

/*
 * Waits for the len bytes of frame e on the RX queue; frames that are not it
 * (stale ones, the peer's own traffic) are passed over. Returns 1 when it
 * came intact, 0 when it did not in time.
 */
static int rx_got(struct dev *d, const uint8_t *e, int len, int timeout_ms)
{
	int tries;

	for (tries = 0; tries < 8; tries++) {
		uint16_t id;
		int got = wait_used(d, RXQ, timeout_ms, &id), same;

		if (got < 0)
			return 0;
		rx_posted--;
		same = got == HDR_LEN + len && id < QSIZE && !memcmp(buf(RXQ, id) + HDR_LEN, e, len);
		rx_fill(d);
		if (same)
			return 1;
	}
	return 0;
}

/* Sends frames of several sizes on TX; returns how many reached the peer intact. */
static int to_peer(struct dev *d, int nframes, int seq)
{
	int i, ok = 0;

	peer_drain();
	for (i = 0; i < nframes; i++) {
		int len = 60 + (i * 97) % 1455;
		uint8_t *f = next_buf(d, TXQ);
		uint16_t id;

		make_frame(f, len, seq + i);
		post(d, TXQ, f, HDR_LEN + len, 0);
		ok += peer_got(f + HDR_LEN, len, 2000);
		wait_used(d, TXQ, 2000, &id);
	}
	return ok;
}

/*
 * The peer sends frames of several sizes to dst; returns how many arrived
 * intact on the RX queue, each waited for timeout_ms.
 */
static int from_peer(struct dev *d, const uint8_t *dst, int nframes, int seq, int timeout_ms)
{
	uint8_t e[BUF_SIZE];
	int i, ok = 0;

	rx_fill(d);
	for (i = 0; i < nframes; i++) {
		int len = 60 + (i * 89) % 1455;

		fill_frame(e, len, seq + i, dst, peer_mac);
		if (send(peer, e, len, 0) == len)
			ok += rx_got(d, e, len, timeout_ms);
	}
	return ok;
}

/*
 * Setup from reset; in wire mode the RX buffers start over and the MAC
 * address is the device's again (a reset gives a function back its own).
 */
static int net_setup(struct dev *d)
{
	int r = setup(d);

	rx_posted = 0;
	if (!r && peer >= 0)
		r = get_config(d, 0, mac, 6);
	return r;
}

/* Frames on a wire: sent ones reach the peer, the peer's arrive. */
static void wire_traffic(struct dev *d, int n, const char *when)
{
	int out = to_peer(d, n, 100), in = from_peer(d, mac, n, 200, 2000);

	ksft_test_result(out == n && in == n,
			 "%s%d of %d frames sent reached the peer intact, %d of %d from the peer arrived\n",
			 when, out, n, in, n);
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
 * Sends a command on the control queue: class, command and its data in one
 * readable buffer, the ack in a writable byte. Returns the ack, or -1 when
 * the command is not completed in time.
 */
static int ctrl(struct dev *d, uint8_t class, uint8_t cmd_no, const void *data, uint32_t len,
		int timeout_ms)
{
	uint8_t *cmd = cvq_mem + 16 * 1024, *ack = cmd + 64;
	struct vring_desc c[2] = {
		{ .addr = iova(d, cmd), .len = 2 + len, .flags = VRING_DESC_F_NEXT, .next = 1 },
		{ .addr = iova(d, ack), .len = 1, .flags = VRING_DESC_F_WRITE },
	};
	uint16_t id;
	int got;

	cmd[0] = class;
	cmd[1] = cmd_no;
	memcpy(cmd + 2, data, len);
	*ack = 0xff;
	post_chain(d, CVQ, 0, c, 2);
	got = wait_used(d, CVQ, timeout_ms, &id);
	return got == 1 ? *(volatile uint8_t *)ack : -1;
}

/* Sets the MAC address with VIRTIO_NET_CTRL_MAC_ADDR_SET; returns the ack or -1. */
static int set_mac(struct dev *d, const uint8_t *addr, int timeout_ms)
{
	return ctrl(d, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, addr, 6, timeout_ms);
}

/*
 * Posts n MAC_ADDR_SET commands on the control queue and kicks once: the
 * last one sets last_mac, the others addresses of their own. The chains
 * share their ack descriptor, so that the ring holds n = its size - 1
 * commands. Returns how many were completed with the ack written within
 * 2 s each.
 */
static int ctrl_burst(struct dev *d, int n, const uint8_t *last_mac)
{
	struct ring *r = &d->rings[CVQ];
	uint8_t *ack = cvq_mem + 24 * 1024, *cmds = cvq_mem + 32 * 1024;
	int i, done = 0;

	*ack = 0xff;
	r->desc[n] = (struct vring_desc){ iova(d, ack), 1, VRING_DESC_F_WRITE, 0 };
	for (i = 0; i < n; i++) {
		uint8_t *c = cmds + i * 8;

		c[0] = VIRTIO_NET_CTRL_MAC;
		c[1] = VIRTIO_NET_CTRL_MAC_ADDR_SET;
		if (i == n - 1)
			memcpy(c + 2, last_mac, 6);
		else
			memcpy(c + 2, (const uint8_t[6]){ 0x02, 0x52, 0x57, 0x01, 1 + i / 200, 1 + i % 200 }, 6);
		r->desc[i] = (struct vring_desc){ iova(d, c), 8, VRING_DESC_F_NEXT, n };
		r->avail->ring[(uint16_t)(r->avail_idx + i) % r->num] = i;
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	r->avail_idx += n;
	r->avail->idx = r->avail_idx;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	kick(d, CVQ);
	for (i = 0; i < n; i++) {
		uint16_t id;
		int got = wait_used(d, CVQ, 2000, &id);

		if (got < 0)
			break;
		done += got == 1 && id < n;
	}
	return done;
}

/*
 * Resets the device and enables queue 0, which has no size then, n times:
 * the device must refuse, and say so in the kernel log at most a few times.
 * Returns the number of lines the kernel log got meanwhile, or -errno when
 * /dev/kmsg cannot be read.
 */
static int enable_unsized(struct dev *d, int n)
{
	char rec[2048];
	int fd, i, lines = 0;

	fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	if (fd < 0 || lseek(fd, 0, SEEK_END) < 0)
		return -errno;
	set_status(d, 0);
	for (i = 0; i < n; i++) {
		struct vhost_vring_state en = { RXQ, 1 };

		ioctl(d->fd, VHOST_VDPA_SET_VRING_ENABLE, &en);
	}
	set_status(d, 0);
	for (;;) {
		ssize_t len = read(fd, rec, sizeof(rec) - 1);

		if (len >= 0) {
			rec[len] = 0;
			if (lines < 30)
				printf("# kmsg: %s", strchr(rec, ';') ? strchr(rec, ';') + 1 : rec);
			lines++;
		} else if (errno != EPIPE) {
			break; /* EAGAIN: nothing more */
		}
	}
	close(fd);
	return lines;
}

static const char *mac_str(const uint8_t *a)
{
	static char s[2][18];
	static int n;
	char *p = s[n++ % 2];

	snprintf(p, 18, "%02x:%02x:%02x:%02x:%02x:%02x", a[0], a[1], a[2], a[3], a[4], a[5]);
	return p;
}

/* Sends a frame to the device's old MAC address: delivered, or filtered? */
static int old_mac_filtered(struct dev *d, const uint8_t *old_mac)
{
	uint8_t e[BUF_SIZE];

	if (peer < 0) {
		uint8_t keep[6];
		int got;

		memcpy(keep, mac, 6);
		memcpy(mac, old_mac, 6);
		got = one_frame(d, 80, 9, 300);
		memcpy(mac, keep, 6);
		return got < 0;
	}
	rx_fill(d);
	fill_frame(e, 80, 9, old_mac, peer_mac);
	return send(peer, e, 80, 0) == 80 && !rx_got(d, e, 80, 300);
}

/*
 * A frame posted on TX with the memory it is in unmapped: returns whether it
 * stayed undelivered (0 when it came back, or reached the peer).
 */
static int undelivered(struct dev *d, uint8_t *f, int len)
{
	uint16_t uid;

	if (peer < 0)
		return wait_used(d, RXQ, 300, &uid) < 0;
	return !peer_got(f + HDR_LEN, len, 500);
}

/*
 * Pages that are never mapped through the IOTLB: the rings of the TX, RX and
 * control queues (RING_PAGES each) and a page of buffers, for pa_probe().
 */
#define PA_PAGES (3 * RING_PAGES + 1)
static uint8_t *pa_mem;

/*
 * The physical address of p (in a locked page) from /proc/self/pagemap, or 0
 * when the frame number is not readable.
 */
static uint64_t phys_of(const void *p)
{
	uint64_t e = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd < 0)
		return 0;
	if (pread(fd, &e, sizeof(e), (off_t)((uintptr_t)p / PAGE * sizeof(e))) != sizeof(e))
		e = 0;
	close(fd);
	if (!(e >> 63) || !(e & ((1ull << 55) - 1)))
		return 0;
	return (e & ((1ull << 55) - 1)) * PAGE + (uintptr_t)p % PAGE;
}

/*
 * Sets queue q up with its ring in the pages of pa_mem from page first on,
 * at their physical addresses. Returns 0 or a negative errno.
 */
static int pa_queue(struct dev *d, int q, int first)
{
	uint8_t *base = pa_mem + first * PAGE;
	uint64_t desc = phys_of(base), avail = phys_of(base + PAGE), used = phys_of(base + 2 * PAGE);

	if (!desc || !avail || !used)
		return -EFAULT;
	return set_vring(d, q, desc, avail, used);
}

/* Makes the chain at descriptor 0 of the ring at page first available and kicks. */
static void pa_kick(struct dev *d, int q, int first)
{
	struct vring_avail *avail = (void *)(pa_mem + (first + 1) * PAGE);

	avail->ring[0] = 0;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	avail->idx = 1;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	kick(d, q);
}

/*
 * From the device's current state (reset, or just opened: nothing is reset
 * here), takes it to DRIVER_OK with rings at physical addresses of pa_mem:
 * the RX and TX queues' when tx, with a frame on TX (to a unicast address
 * the loopback filters, so RX is not touched); the control queue's when cvq,
 * its group in address space 1, with a command. The buffers are at physical
 * addresses too. Returns how many of the two the device used within 500 ms
 * (0: it reached none of that memory), or a negative errno (-EFAULT: no
 * physical addresses). The device is reset afterwards.
 */
static int pa_probe(struct dev *d, int tx, int cvq)
{
	static const uint8_t filtered[6] = { 0x02, 0x99, 0x88, 0x77, 0x66, 0x55 };
	uint8_t st = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;
	uint8_t *bufs = pa_mem + 3 * RING_PAGES * PAGE, *cmd = bufs + 2048, *ack = cmd + 64;
	struct vring_desc *t = (void *)(pa_mem + RING_PAGES * PAGE);
	struct vring_desc *c = (void *)(pa_mem + 2 * RING_PAGES * PAGE);
	struct vring_used *t_used = (void *)(pa_mem + (RING_PAGES + 2) * PAGE);
	struct vring_used *c_used = (void *)(pa_mem + (2 * RING_PAGES + 2) * PAGE);
	int r, waited, used = 0;

	memset(pa_mem, 0, PA_PAGES * PAGE);
	fill_frame(bufs + HDR_LEN, 60, 77, filtered, (const uint8_t *)"\x02\x11\x22\x33\x44\x55");
	*t = (struct vring_desc){ .addr = phys_of(bufs), .len = HDR_LEN + 60 };
	/* An unknown command: a device that reached it would only fail it. */
	memset(cmd, 0xff, 8);
	*ack = 0xff;
	c[0] = (struct vring_desc){ .addr = phys_of(cmd), .len = 8, .flags = VRING_DESC_F_NEXT,
				    .next = 1 };
	c[1] = (struct vring_desc){ .addr = phys_of(ack), .len = 1, .flags = VRING_DESC_F_WRITE };
	if (!t->addr || !c[0].addr || !c[1].addr)
		return -EFAULT;

	if ((r = set_status(d, st)))
		return r;
	if (ioctl(d->fd, VHOST_SET_FEATURES, &d->features))
		return -errno;
	st |= VIRTIO_CONFIG_S_FEATURES_OK;
	if ((r = set_status(d, st)))
		return r;
	if (cvq) {
		struct vhost_vring_state g = { CVQ, 0 }, a;

		if (ioctl(d->fd, VHOST_VDPA_GET_VRING_GROUP, &g))
			return -errno;
		a = (struct vhost_vring_state){ g.num, 1 };
		if (ioctl(d->fd, VHOST_VDPA_SET_GROUP_ASID, &a))
			return -errno;
	}
	if ((tx && ((r = pa_queue(d, RXQ, 0)) || (r = pa_queue(d, TXQ, RING_PAGES)))) ||
	    (cvq && (r = pa_queue(d, CVQ, 2 * RING_PAGES))))
		return r;
	if ((r = set_status(d, st | VIRTIO_CONFIG_S_DRIVER_OK)))
		return r;
	if (tx)
		pa_kick(d, TXQ, RING_PAGES);
	if (cvq)
		pa_kick(d, CVQ, 2 * RING_PAGES);
	for (waited = 0; waited < 500 && !used; waited += 10) {
		usleep(10 * 1000);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		used = !!*(volatile uint16_t *)&t_used->idx + !!*(volatile uint16_t *)&c_used->idx;
	}
	r = set_status(d, 0);
	return r ? r : used;
}

/*
 * Why the physical-address tests do not apply: wire mode, or the reason the
 * script gives (VHOST_VDPA_SKIP_PA); NULL when they do.
 */
static const char *pa_skip(void)
{
	const char *why = getenv("VHOST_VDPA_SKIP_PA");

	if (peer >= 0)
		return "wire mode: vhost-vdpa gives a platform-IOMMU function an empty domain";
	return why && *why ? why : NULL;
}

/* Reports a pa_probe() as one result. */
static void pa_result(struct dev *d, int tx, int cvq, const char *what)
{
	const char *why = pa_skip();
	int r;

	if (why) {
		ksft_test_result_skip("%s reach nothing (%s)\n", what, why);
		return;
	}
	r = pa_probe(d, tx, cvq);
	if (r == -EFAULT)
		ksft_test_result_skip("%s reach nothing (no frame numbers in /proc/self/pagemap)\n",
				      what);
	else
		ksft_test_result(r == 0, "%s reach nothing (%d used)\n", what, r);
}

/*
 * An IRQ: how often it fired (its /proc/interrupts line, all CPUs) and what
 * /proc/irq/N/spurious says of interrupts no handler took.
 */
struct irq_stat {
	unsigned int irq, unhandled, last_unhandled;
	unsigned long long fired;
};

/* The sum of the per-CPU counts of an IRQ in /proc/interrupts, or 0. */
static unsigned long long irq_fired(unsigned int irq)
{
	unsigned long long sum = 0;
	char line[4096];
	FILE *f = fopen("/proc/interrupts", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		char *p = line, *end;

		if (strtoul(p, &end, 10) != irq || end == p || *end != ':')
			continue;
		for (p = end + 1;; p = end) {
			unsigned long long n = strtoull(p, &end, 10);

			if (end == p)
				break;
			sum += n;
		}
		break;
	}
	fclose(f);
	return sum;
}

/*
 * Reads the spurious-interrupt counters of the MSI-X IRQs of the PCI
 * function bdf (at most n); returns how many, or -1.
 */
static int irq_stats(const char *bdf, struct irq_stat *st, int n)
{
	char path[128];
	struct dirent *e;
	DIR *dir;
	int got = 0;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/msi_irqs", bdf);
	dir = opendir(path);
	if (!dir)
		return -1;
	while ((e = readdir(dir)) && got < n) {
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		st[got].irq = atoi(e->d_name);
		snprintf(path, sizeof(path), "/proc/irq/%u/spurious", st[got].irq);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fscanf(f, "count %*u unhandled %u last_unhandled %u", &st[got].unhandled,
			   &st[got].last_unhandled) == 2) {
			st[got].fired = irq_fired(st[got].irq);
			got++;
		}
		fclose(f);
	}
	closedir(dir);
	return got;
}

/*
 * Polling: with no call eventfd on RX and TX (the bus driver sets no
 * callback) frames still flow, and the function's vectors, which still fire,
 * must be handled: an interrupt answered as not the device's counts as
 * unhandled in /proc/irq/N/spurious, and 100,000 of them disable the vector
 * ("nobody cared"). The function is VHOST_VDPA_PCI_BDF, from the script.
 */
static void poll_test(struct dev *d)
{
	struct vhost_vring_file none[2] = { { RXQ, -1 }, { TXQ, -1 } };
	struct vhost_vring_file call[2] = { { RXQ, d->rings[RXQ].call }, { TXQ, d->rings[TXQ].call } };
	const char *bdf = getenv("VHOST_VDPA_PCI_BDF");
	struct irq_stat before[64], after[64];
	int n, m, i, j, fired = 0, unhandled = 0, out = 0, in = 0, r;

	if (!bdf || !*bdf) {
		ksft_test_result_skip("polling without call eventfds, the function's interrupts are all handled (VHOST_VDPA_PCI_BDF does not name the function)\n");
		return;
	}
	n = irq_stats(bdf, before, 64);
	r = ioctl(d->fd, VHOST_SET_VRING_CALL, &none[0]) || ioctl(d->fd, VHOST_SET_VRING_CALL, &none[1]);
	if (!r) {
		out = to_peer(d, 100, 800);
		in = from_peer(d, mac, 100, 900, 2000);
	}
	m = irq_stats(bdf, after, 64);
	r = r || ioctl(d->fd, VHOST_SET_VRING_CALL, &call[0]) ||
	    ioctl(d->fd, VHOST_SET_VRING_CALL, &call[1]);
	for (i = 0; i < m; i++)
		for (j = 0; j < n; j++) {
			if (before[j].irq != after[i].irq)
				continue;
			fired += after[i].fired != before[j].fired;
			unhandled += after[i].unhandled != before[j].unhandled ||
				     after[i].last_unhandled != before[j].last_unhandled;
		}
	ksft_test_result(!r && n > 0 && out == 100 && in == 100 && fired && !unhandled,
			 "polling without call eventfds, %d and %d of 100 frames crossed, %d vectors fired, %d of them had interrupts left unhandled\n",
			 out, in, fired, unhandled);
}

/* The device under test, its path, and what the tests learn on the way. */
static struct dev vd;
static const char *path;
static uint64_t offered, bf;
static uint32_t nas;
static int ctrl_rx;
/* The MAC address the device had at first (the old one once it is changed). */
static uint8_t old_mac[6];
/* The MAC address the tests set: never the one the device starts with. */
static uint8_t new_mac[6] = { 0x02, 0x52, 0x56, 0xaa, 0xbb, 0xcc };
/*
 * A loopback parent must offer all of these; on a wire the IOTLB v2 messages
 * are what vhost-vdpa needs, the rest is what the parent has.
 */
static const uint64_t want_bf = 1ull << VHOST_BACKEND_F_IOTLB_MSG_V2 |
				1ull << VHOST_BACKEND_F_IOTLB_ASID |
				1ull << VHOST_BACKEND_F_SUSPEND | 1ull << VHOST_BACKEND_F_RESUME;

/*
 * The modes of the tests: a loopback device, or a function on a wire, or a
 * loopback device through the mdev bridge (vfio:UUID).
 */
#define LOOP 1
#define WIRE 2
#define VFIO 4

static void open_dev(void)
{
	int r = dev_open(&vd, path, 3);

	if (vd.fd < 0)
		ksft_exit_fail_perror(path);
	ksft_test_result(!r && vd.id == VIRTIO_ID_NET && vd.nvqs >= 3,
			 "owner, device id %u, %u queues\n", vd.id, vd.nvqs);
}

static void backend_features(void)
{
	uint64_t offered_bf = 0;
	int r;

	if (vd.vfio) {
		/*
		 * The bridge offers persistent mappings, suspend and resume
		 * where the parent can (the simulators can), and no IOTLB
		 * messages (vfio_vdpa.h).
		 */
		const uint64_t iotlb = 1ull << VHOST_BACKEND_F_IOTLB_MSG_V2 |
				       1ull << VHOST_BACKEND_F_IOTLB_BATCH |
				       1ull << VHOST_BACKEND_F_IOTLB_ASID;
		uint64_t sr = 1ull << VHOST_BACKEND_F_SUSPEND | 1ull << VHOST_BACKEND_F_RESUME;

		r = ioctl(vd.fd, VHOST_GET_BACKEND_FEATURES, &offered_bf) ? -errno : 0;
		r = r ? r : negotiate_backend(&vd, want_bf, &bf);
		ksft_test_result(!r && (offered_bf & 1ull << VHOST_BACKEND_F_IOTLB_PERSIST) &&
				 !(offered_bf & iotlb) && (peer >= 0 || (offered_bf & sr) == sr) &&
				 bf == (want_bf & offered_bf),
				 "backend features offered 0x%llx (IOTLB_PERSIST, no IOTLB messages), 0x%llx of 0x%llx taken\n",
				 (unsigned long long)offered_bf, (unsigned long long)bf,
				 (unsigned long long)want_bf);
		return;
	}
	r = negotiate_backend(&vd, want_bf, &bf);

	ksft_test_result(!r && (peer >= 0 ? !!(bf & 1ull << VHOST_BACKEND_F_IOTLB_MSG_V2) :
					    bf == want_bf),
			 "backend features 0x%llx\n", (unsigned long long)bf);
}

static void device_features(void)
{
	int r = ioctl(vd.fd, VHOST_GET_FEATURES, &offered);

	vd.features = offered & FEATURES;
	ksft_test_result(!r && vd.features == FEATURES,
			 "device offers VERSION_1, ACCESS_PLATFORM, MAC, CTRL_VQ, CTRL_MAC_ADDR\n");
	if (ioctl(vd.fd, VHOST_VDPA_GET_AS_NUM, &nas))
		nas = 1;
	/*
	 * On a wire, promiscuous mode (on after a reset) can be turned off.
	 * (The physical-address tests that use the features are skipped on a
	 * wire.)
	 */
	ctrl_rx = peer >= 0 && (offered & 1ull << VIRTIO_NET_F_CTRL_RX);
	if (ctrl_rx)
		vd.features |= 1ull << VIRTIO_NET_F_CTRL_RX;
}

/*
 * Nothing is mapped yet: rings and buffers at physical addresses of the
 * program's own pages must be out of reach. Then with address space 0
 * mapped, the control queue's space 1 must still map nothing.
 */
static void pa_unmapped(void)
{
	pa_result(&vd, 1, nas >= 2, "before any IOTLB message, rings and buffers at physical addresses");
}

static void pa_other_asid(void)
{
	int r, r2;

	if (nas < 2 && !pa_skip()) {
		ksft_test_result_skip("with ASID 0 mapped, control queue rings at physical addresses in ASID 1 reach nothing (the device has 1 address space)\n");
		return;
	}
	r = pa_skip() ? 0 : iotlb(&vd, VHOST_IOTLB_UPDATE, 0, IOVA_BASE, MEM_SIZE, (uintptr_t)mem);
	if (r)
		ksft_test_result_fail("ASID 0 mapped (%d)\n", r);
	else
		pa_result(&vd, 0, 1, "with ASID 0 mapped, control queue rings at physical addresses in ASID 1");
	r2 = pa_skip() ? 0 : iotlb(&vd, VHOST_IOTLB_INVALIDATE, 0, IOVA_BASE, MEM_SIZE, 0);
	if (r2)
		ksft_print_msg("invalidating ASID 0: %s\n", strerror(-r2));
}

/* A guest or user triggers this at will: the kernel log is not flooded. */
static void enable_flood(void)
{
	int r;

	if (peer >= 0) {
		ksft_test_result_skip("1000 enables of a queue with no size add at most 20 lines to the kernel log (wire mode: a function's queue would be enabled with no ring)\n");
		return;
	}
	r = enable_unsized(&vd, 1000);
	ksft_test_result(r >= 0 && r <= 20,
			 "1000 enables of a queue with no size add %d lines to the kernel log (at most 20)\n",
			 r);
}

static void map_memory(void)
{
	int r = iotlb(&vd, VHOST_IOTLB_UPDATE, 0, IOVA_BASE, MEM_SIZE, (uintptr_t)mem);

	ksft_test_result(!r, "IOTLB v2 update maps the memory (%d)\n", r);
}

/* Bad requests are refused. */
static void bad_queue_index(void)
{
	struct vhost_vring_state s = { vd.nvqs, QSIZE };
	int r = ioctl(vd.fd, VHOST_SET_VRING_NUM, &s);

	ksft_test_result(r && errno == ENOBUFS, "queue index %u out of range is refused (%s)\n",
			 vd.nvqs, strerror(errno));
}

static void bad_ring_size(void)
{
	struct vhost_vring_state s = { 0, 100 };
	int r = ioctl(vd.fd, VHOST_SET_VRING_NUM, &s);

	ksft_test_result(r && errno == EINVAL, "ring size 100 is refused (%s)\n", strerror(errno));
}

static void bad_iova_range(void)
{
	int r = iotlb(&vd, VHOST_IOTLB_UPDATE, 0, ~0ull - 0xfff, 0x2000, (uintptr_t)mem);

	ksft_test_result(r < 0, "an IOVA range that wraps is refused (%d)\n", r);
}

static void bad_asid(void)
{
	int r = iotlb(&vd, VHOST_IOTLB_UPDATE, 64, IOVA_BASE, 4096, (uintptr_t)mem);

	ksft_test_result(r < 0, "an unknown ASID is refused (%d)\n", r);
}

static void bad_group(void)
{
	struct vhost_vring_state g = { 64, 0 };
	int r = ioctl(vd.fd, VHOST_VDPA_SET_GROUP_ASID, &g);

	ksft_test_result(r < 0, "an unknown group is refused (%s)\n", strerror(errno));
}

/*
 * The control queue's group goes to address space 1, which setup does after
 * every reset. Were it the data queues' group, they would move too: then it
 * stays in space 0, and the control queue tests fail. A device with one
 * address space keeps the control queue's memory in space 0.
 */
static void cvq_group(void)
{
	struct vhost_vring_state g[3] = { { RXQ, 0 }, { TXQ, 0 }, { CVQ, 0 } }, a;
	int r;

	if (ioctl(vd.fd, VHOST_VDPA_GET_AS_NUM, &nas) || nas < 2) {
		vd.regions[1].asid = 0;
		ksft_test_result_skip("the control queue in an address space of its own (the device has 1 address space)\n");
		return;
	}
	r = ioctl(vd.fd, VHOST_VDPA_GET_VRING_GROUP, &g[0]) ||
	    ioctl(vd.fd, VHOST_VDPA_GET_VRING_GROUP, &g[1]) ||
	    ioctl(vd.fd, VHOST_VDPA_GET_VRING_GROUP, &g[2]);
	r = r || g[0].num != g[1].num || g[2].num == g[0].num || g[2].num >= MAX_GROUPS;
	a = (struct vhost_vring_state){ g[2].num, 1 };
	r = r || ioctl(vd.fd, VHOST_VDPA_SET_GROUP_ASID, &a);
	if (!r)
		vd.group_asid[g[2].num] = 1;
	ksft_test_result(!r, "the control queue is in group %u, the data queues in %u; ASID 1 is set\n",
			 g[2].num, g[0].num);
}

static void first_setup(void)
{
	int r = get_config(&vd, 0, old_mac, 6);

	memcpy(mac, old_mac, 6);
	/* A device an earlier run left with new_mac set. */
	if (!memcmp(new_mac, old_mac, 6))
		new_mac[5] ^= 1;
	r = r ? r : net_setup(&vd);
	ksft_test_result(!r, "setup up to DRIVER_OK (%d)\n", r);
}

static void first_traffic(void)
{
	int sent, back;

	if (peer >= 0) {
		wire_traffic(&vd, 40, "");
		return;
	}
	back = traffic(&vd, 40, &sent);
	ksft_test_result(back == sent, "%d of %d frames came back intact\n", back, sent);
}

/* A suspended device holds its frames until it resumes. */
static void suspend_resume(void)
{
	uint8_t *fr = next_buf(&vd, TXQ);
	uint16_t uid;
	int r, early, late;

	if (!(bf & 1ull << VHOST_BACKEND_F_SUSPEND) || !(bf & 1ull << VHOST_BACKEND_F_RESUME)) {
		ksft_test_result_skip("suspend holds a frame, resume delivers it (the device offers no VHOST_BACKEND_F_SUSPEND and _RESUME)\n");
		return;
	}
	if (peer >= 0) {
		peer_drain();
		r = ioctl(vd.fd, VHOST_VDPA_SUSPEND);
		make_frame(fr, 100, 1000);
		post_buf(&vd, TXQ, HDR_LEN + 100, 0);
		early = peer_got(fr + HDR_LEN, 100, 300);
		r = r || ioctl(vd.fd, VHOST_VDPA_RESUME);
		late = !early && peer_got(fr + HDR_LEN, 100, 2000);
		ksft_test_result(!r && !early && late,
				 "suspend holds a frame, resume delivers it to the peer\n");
		wait_used(&vd, TXQ, 2000, &uid);
		return;
	}
	r = ioctl(vd.fd, VHOST_VDPA_SUSPEND);
	make_frame(fr, 100, 1000);
	post_buf(&vd, TXQ, HDR_LEN + 100, 0);
	early = wait_used(&vd, RXQ, 300, &uid);
	r = r || ioctl(vd.fd, VHOST_VDPA_RESUME);
	late = early < 0 ? wait_used(&vd, RXQ, 2000, &uid) : -1;
	ksft_test_result(!r && early < 0 && late == HDR_LEN + 100,
			 "suspend holds a frame, resume delivers it (%d, %d)\n", early, late);
	wait_used(&vd, TXQ, 2000, &uid);
}

/* After a reset, a new setup works again. */
static void reset_setup(void)
{
	int r = net_setup(&vd), sent = 0, back;

	if (peer >= 0) {
		if (r)
			ksft_test_result_fail("after reset and setup (%d)\n", r);
		else
			wire_traffic(&vd, 10, "after reset and setup, ");
		return;
	}
	back = r ? 0 : traffic(&vd, 10, &sent);
	ksft_test_result(!r && back == sent, "after reset and setup, %d of %d frames came back\n",
			 back, sent);
}

/* Malformed chains deliver nothing; a reset brings the device back. */
enum bad_chain {
	BAD_LOOP,
	BAD_PAST_MAPPINGS,
	BAD_INDIRECT_SIZE,
	BAD_WRITABLE,
	BAD_INDIRECT_LOOP,
};

static void bad_chain(enum bad_chain c)
{
	static const char *const what[] = {
		[BAD_LOOP] = "a descriptor loop",
		[BAD_PAST_MAPPINGS] = "a buffer past the mappings",
		[BAD_INDIRECT_SIZE] = "an oversized indirect table",
		[BAD_WRITABLE] = "a writable buffer to send",
		[BAD_INDIRECT_LOOP] = "a loop through an indirect descriptor",
	};
	uint8_t *fr = buf(TXQ, 250);
	struct vring_desc bad[1] = { { .addr = iova(&vd, fr), .len = HDR_LEN + 60 } };
	uint16_t uid;
	int r, got, rsent = 0, rback;

	make_frame(fr, 60, 500 + c);
	/*
	 * INDIRECT with NEXT breaks a rule of the driver (2.7.5.3.1): a
	 * function given to a parent walks its rings itself, and QEMU's sends
	 * the table's frame. Only vringh's walk is ours.
	 */
	if (peer >= 0 && c == BAD_INDIRECT_LOOP) {
		ksft_test_result_skip("%s delivers nothing (a PCI function walks its own rings; QEMU's follows the table)\n",
				      what[c]);
		return;
	}
	switch (c) {
	case BAD_LOOP:
		bad[0].flags = VRING_DESC_F_NEXT;
		bad[0].next = 0;
		break;
	case BAD_PAST_MAPPINGS:
		bad[0].addr = IOVA_BASE + MEM_SIZE - 16;
		bad[0].len = 4096;
		break;
	case BAD_INDIRECT_SIZE:
		bad[0].flags = VRING_DESC_F_INDIRECT;
		bad[0].len = 0x80000000u;
		break;
	case BAD_WRITABLE:
		bad[0].flags = VRING_DESC_F_WRITE;
		break;
	case BAD_INDIRECT_LOOP: {
		/* A one-entry table; the ring's descriptor chains to itself. */
		struct vring_desc *table = (void *)buf(TXQ, 251);

		table[0] = bad[0];
		bad[0] = (struct vring_desc){ .addr = iova(&vd, table),
					      .len = sizeof(*table),
					      .flags = VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT };
		break;
	}
	}
	if (peer >= 0) {
		peer_drain();
		post_chain(&vd, TXQ, 240, bad, 1);
		got = peer_got(NULL, 0, 300) ? 0 : -1;
		r = net_setup(&vd);
		rsent = 2;
		rback = r ? 0 : to_peer(&vd, rsent, 600);
	} else {
		for (got = 0; got < 4; got++)
			post_buf(&vd, RXQ, BUF_SIZE, 1);
		post_chain(&vd, TXQ, 240, bad, 1);
		got = wait_used(&vd, RXQ, 300, &uid);
		r = setup(&vd);
		rback = r ? 0 : traffic(&vd, 2, &rsent);
	}
	ksft_test_result(got < 0 && !r && rback == rsent,
			 "%s delivers nothing, and after a reset %d of %d frames come %s\n",
			 what[c], rback, rsent, peer >= 0 ? "through" : "back");
}

static void bad_loop(void)
{
	bad_chain(BAD_LOOP);
}

static void bad_past_mappings(void)
{
	bad_chain(BAD_PAST_MAPPINGS);
}

static void bad_indirect_size(void)
{
	bad_chain(BAD_INDIRECT_SIZE);
}

static void bad_writable(void)
{
	bad_chain(BAD_WRITABLE);
}

static void bad_indirect_loop(void)
{
	bad_chain(BAD_INDIRECT_LOOP);
}

/* The control queue sets the MAC address, and the filter follows it. */
static void mac_set(void)
{
	int r = set_mac(&vd, new_mac, 2000);

	ksft_test_result(r == VIRTIO_NET_OK, "MAC_ADDR_SET %s on the control queue is acked (%d)\n",
			 mac_str(new_mac), r);
}

static void mac_in_config(void)
{
	uint8_t cfg_mac[6];
	int r = get_config(&vd, 0, cfg_mac, 6);

	ksft_test_result(!r && !memcmp(cfg_mac, new_mac, 6), "the config space then has MAC %s\n",
			 mac_str(cfg_mac));
}

static void mac_burst(void)
{
	static const uint8_t burst_mac[6] = { 0x02, 0x52, 0x56, 0xdd, 0xee, 0x77 };
	int n = vd.rings[CVQ].num - 1, done = ctrl_burst(&vd, n, burst_mac), r;
	uint8_t cfg_mac[6];

	r = get_config(&vd, 0, cfg_mac, 6);
	ksft_test_result(done == n && !r && !memcmp(cfg_mac, burst_mac, 6),
			 "%d MAC_ADDR_SET commands posted with one kick: %d completed, then the config space has MAC %s\n",
			 n, done, mac_str(cfg_mac));
	/* Back to new_mac, for the tests that follow. */
	r = set_mac(&vd, new_mac, 2000);
	if (r != VIRTIO_NET_OK)
		ksft_print_msg("MAC_ADDR_SET %s again: %d\n", mac_str(new_mac), r);
	memcpy(mac, new_mac, 6);
}

static void new_mac_delivered(void)
{
	int sent, back;

	if (peer >= 0) {
		back = from_peer(&vd, new_mac, 4, 700, 2000);
		ksft_test_result(back == 4, "%d of %d frames from the peer to the new MAC arrived\n",
				 back, 4);
		return;
	}
	back = traffic(&vd, 4, &sent);
	ksft_test_result(back == sent, "%d of %d frames to the new MAC came back\n", back, sent);
}

/* A function starts promiscuous: the filter needs promiscuous mode off. */
static void old_mac_not_delivered(void)
{
	uint8_t off = 0;
	int ack = VIRTIO_NET_OK;

	if (peer >= 0 && !ctrl_rx) {
		ksft_test_result_skip("a frame to the old MAC %s is not delivered (the device offers no VIRTIO_NET_F_CTRL_RX)\n",
				      mac_str(old_mac));
		return;
	}
	if (peer >= 0)
		ack = ctrl(&vd, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, &off, 1, 2000);
	ksft_test_result(ack == VIRTIO_NET_OK && old_mac_filtered(&vd, old_mac),
			 "a frame to the old MAC %s is not delivered%s\n", mac_str(old_mac),
			 peer >= 0 ? " (promiscuous mode off)" : "");
}

/* Wire mode only: doorbells, an IOVA never mapped, and recovery. */
#define WIRE_FRAMES 10

/*
 * Through the bridge, the NOTIFY region of a function with a doorbell page
 * per queue is mappable, write only, shared, a queue's page at a time or
 * several, and nothing past the last queue.
 */
static void wire_notify_mmap_rules(void)
{
	struct vfio_region_info n = { .argsz = sizeof(n), .index = VFIO_VDPA_NOTIFY_REGION_INDEX };
	struct vfio_region_info cfg = { .argsz = sizeof(cfg), .index = VFIO_VDPA_CONFIG_REGION_INDEX };
	/* Where: 0 the NOTIFY region's start, 1 its last page, 2 CONFIG; len 0: the whole region. */
	struct { int prot, flags, where; uint64_t len; int want; } c[] = {
		{ PROT_READ | PROT_WRITE, MAP_SHARED, 0, PAGE, EINVAL },
		/*
		 * The bridge refuses it; a group's device file is on VFIO's
		 * noexec file system, where the mm core refuses it first.
		 */
		{ PROT_WRITE | PROT_EXEC, MAP_SHARED, 0, PAGE, vd.iommufd ? EINVAL : EPERM },
		{ PROT_WRITE, MAP_PRIVATE, 0, PAGE, EINVAL },
		{ PROT_WRITE, MAP_SHARED, 0, 0, 0 },
		{ PROT_WRITE, MAP_SHARED, 1, PAGE, 0 },
		{ PROT_WRITE, MAP_SHARED, 1, 2 * PAGE, EINVAL },
		{ PROT_WRITE, MAP_SHARED, 2, PAGE, EINVAL },
	};
	int r, i, bad = 0;

	if (!vd.vfio) {
		ksft_test_result_skip("the NOTIFY region's mmap rules (the bridge's)\n");
		return;
	}
	r = ioctl(vd.fd, VFIO_DEVICE_GET_REGION_INFO, &n) ||
	    ioctl(vd.fd, VFIO_DEVICE_GET_REGION_INFO, &cfg) ? errno : 0;
	for (i = 0; !r && i < (int)(sizeof(c) / sizeof(c[0])); i++) {
		uint64_t len = c[i].len ? c[i].len : n.size;
		uint64_t off = c[i].where == 2 ? cfg.offset :
			       n.offset + (c[i].where == 1 ? n.size - PAGE : 0);
		void *p = mmap(NULL, len, c[i].prot, c[i].flags, vd.fd, off);
		int e = p == MAP_FAILED ? errno : 0;

		if (p != MAP_FAILED)
			munmap(p, len);
		if (e != c[i].want) {
			ksft_print_msg("mmap case %d: errno %d, want %d\n", i, e, c[i].want);
			bad++;
		}
	}
	ksft_test_result(!r && (n.flags & VFIO_REGION_INFO_FLAG_MMAP) && !bad,
			 "the NOTIFY region maps (flags %#x): write-only, shared, not past its end, CONFIG not (%d of %d cases wrong)\n",
			 n.flags, bad, (int)(sizeof(c) / sizeof(c[0])));
}

/* The doorbells mapped, kicks go there: no eventfd is written. */
static void wire_doorbells_map(void)
{
	int r = map_doorbell(&vd, TXQ);

	r = r ? r : map_doorbell(&vd, RXQ);
	ksft_test_result(!r, "the TX and RX doorbells map (pages %d and %d of the device file)%s%s\n",
			 TXQ, RXQ, r ? ": " : "", r ? strerror(-r) : "");
}

static void wire_doorbells_kick(void)
{
	int ok = vd.rings[TXQ].doorbell && vd.rings[RXQ].doorbell, n = WIRE_FRAMES;
	int out = ok ? to_peer(&vd, n, 300) : 0;
	int in = ok ? from_peer(&vd, mac, n, 400, 2000) : 0;

	ksft_test_result(ok && out == n && in == n,
			 "kicked through the doorbells, %d of %d frames reached the peer, %d of %d arrived\n",
			 out, n, in, n);
}

/*
 * A frame posted with its kick written nowhere stays in the ring (once the
 * device is idle); a write to the doorbell sends it.
 */
static void wire_doorbell_write(void)
{
	static uint16_t nowhere;
	volatile uint16_t *db = vd.rings[TXQ].doorbell;
	int early = 1, late = 0;
	uint16_t id;

	/* Through the bridge, the doorbell is written in the NOTIFY region. */
	if (db || vd.vfio) {
		uint8_t *f;

		usleep(200 * 1000);
		peer_drain();
		f = next_buf(&vd, TXQ);
		make_frame(f, 200, 350);
		vd.rings[TXQ].doorbell = &nowhere;
		post(&vd, TXQ, f, HDR_LEN + 200, 0);
		early = peer_got(f + HDR_LEN, 200, 500);
		vd.rings[TXQ].doorbell = db;
		kick(&vd, TXQ);
		late = peer_got(f + HDR_LEN, 200, 2000);
		wait_used(&vd, TXQ, 2000, &id);
	}
	ksft_test_result((db || vd.vfio) && !early && late,
			 "a frame posted without a kick stays in the ring; a write to the TX doorbell%s sends it\n",
			 !vd.vfio ? "" : db ? " (mapped from the NOTIFY region)" : " (NOTIFY region)");
	unmap_doorbell(&vd, TXQ);
	unmap_doorbell(&vd, RXQ);
}

/* A buffer at an IOVA the device was never given: an IOMMU fault. */
static void wire_iova_never(void)
{
	struct vring_desc never[1] = { { .addr = IOVA_NEVER, .len = HDR_LEN + 60 } };
	int r;

	peer_drain();
	post_chain(&vd, TXQ, 240, never, 1);
	r = peer_got(NULL, 0, 500);
	ksft_test_result(!r, "a TX buffer at IOVA 0x%llx, never mapped, reaches nothing at the peer\n",
			 IOVA_NEVER);
}

static void wire_recovery(void)
{
	int r = net_setup(&vd), n = WIRE_FRAMES, out = r ? 0 : to_peer(&vd, n, 500);

	ksft_test_result(!r && out == n,
			 "after a reset and setup, %d of %d frames reach the peer again\n", out, n);
}

static void wire_polling(void)
{
	/* (It takes the call eventfds away with VHOST_SET_VRING_CALL.) */
	if (vd.vfio) {
		ksft_test_result_skip("polling without call eventfds (vfio_vdpa: calls are SET_IRQS)\n");
		return;
	}
	poll_test(&vd);
}

/* The ring memory unmapped, the device cannot reach it: nothing comes back. */
static void memory_unmapped(void)
{
	uint8_t *fr = next_buf(&vd, TXQ);
	int r, got;

	make_frame(fr, 80, 7);
	if (peer >= 0)
		peer_drain();
	r = iotlb(&vd, VHOST_IOTLB_INVALIDATE, 0, IOVA_BASE, MEM_SIZE, 0);
	post_buf(&vd, TXQ, HDR_LEN + 80, 0);
	got = undelivered(&vd, fr, 80);
	ksft_test_result(!r && got, "with the memory unmapped nothing is delivered\n");
}

/*
 * Address space 1 unmapped, the control queue's memory mapped at the same
 * IOVAs in space 0 instead: the device must not translate the control queue
 * through space 0, so the command is not completed and the MAC address stays.
 */
static void cvq_asid_unmapped(void)
{
	static const uint8_t other_mac[6] = { 0x02, 0x52, 0x56, 0x44, 0x55, 0x66 };
	uint8_t cfg_mac[6];
	int r, got;

	if (nas < 2) {
		ksft_test_result_skip("with ASID 1 unmapped a control command is not completed (the device has 1 address space)\n");
		return;
	}
	r = setup(&vd);
	r = r || iotlb(&vd, VHOST_IOTLB_INVALIDATE, 1, CVQ_IOVA, CVQ_SIZE, 0);
	r = r || iotlb(&vd, VHOST_IOTLB_UPDATE, 0, CVQ_IOVA, CVQ_SIZE, (uintptr_t)cvq_mem);
	got = r ? 0 : set_mac(&vd, other_mac, 500);
	r = r || get_config(&vd, 0, cfg_mac, 6);
	ksft_test_result(!r && got < 0 && !memcmp(cfg_mac, new_mac, 6),
			 "with ASID 1 unmapped a control command is not completed (%d), MAC %s\n",
			 got, mac_str(cfg_mac));
}

/* After the invalidation, the memory mapped again, the device works. */
static void wire_after_invalidation(void)
{
	int r = net_setup(&vd);

	if (r)
		ksft_test_result_fail("after the invalidation, a new setup (%d)\n", r);
	else
		wire_traffic(&vd, 10, "after the invalidation and a new setup, ");
}

/*
 * A reset with the memory mapped (vhost-vdpa cleans the device's mappings)
 * and a new open (vhost-vdpa resets the device's maps to their defaults when
 * the file is closed): again nothing is in reach.
 */
static void pa_after_reset(void)
{
	set_status(&vd, 0);
	pa_result(&vd, 1, nas >= 2, "after a reset, rings and buffers at physical addresses");
}

static void pa_after_reopen(void)
{
	int r;

	dev_close(&vd);
	if (pa_skip()) {
		ksft_test_result_skip("after close and open, rings and buffers at physical addresses reach nothing (%s)\n",
				      pa_skip());
		return;
	}
	r = dev_open(&vd, path, 3);
	r = r ? r : negotiate_backend(&vd, want_bf, &bf);
	if (r)
		ksft_test_result_fail("open again (%d)\n", r);
	else
		pa_result(&vd, 1, nas >= 2, "after close and open, rings and buffers at physical addresses");
	dev_close(&vd);
}

/*
 * What VFIO charges for pins (VmLck through type1, VmPin through iommufd)
 * with the memory locked, before the device is opened.
 */
static long lck_base;
static int iommufd;

static long vm_lck(void)
{
	return vdpa_pinned_kb(iommufd);
}

/* The bridge pinned exactly the memory it was given (both regions). */
static void vfio_pins_counted(void)
{
	long now = vm_lck(), want = lck_base + (MEM_SIZE + CVQ_SIZE) / 1024;

	ksft_test_result(now == want, "pinned %ld kB with both regions given to the device (%ld)\n",
			 now, want);
}

/*
 * The data memory leaves the container (VFIO_IOMMU_UNMAP_DMA) while the
 * device runs: the bridge takes it out of the device's reach and unpins it,
 * and a frame posted there is not delivered.
 */
static void vfio_live_unmap(void)
{
	uint8_t *fr = next_buf(&vd, TXQ);
	long lck;
	int r, got;

	make_frame(fr, 90, 8);
	r = container_unmap(&vd, IOVA_BASE, MEM_SIZE);
	lck = vm_lck();
	post_buf(&vd, TXQ, HDR_LEN + 90, 0);
	got = undelivered(&vd, fr, 90);
	ksft_test_result(!r && got && lck == lck_base + CVQ_SIZE / 1024,
			 "VFIO unmap of the live rings (%d): nothing delivered, pinned %ld kB (%ld)\n",
			 r, lck, lck_base + CVQ_SIZE / 1024);
}

static void vfio_after_live_unmap(void)
{
	int r = net_setup(&vd), sent = 0, back;

	back = r ? 0 : traffic(&vd, 10, &sent);
	ksft_test_result(!r && back == sent,
			 "after the VFIO unmap, mapped again and set up, %d of %d frames came back\n",
			 back, sent);
}

/* Closing the device returned every pinned page. */
static void vfio_pins_returned(void)
{
	long now = vm_lck();

	ksft_test_result(now == lck_base, "pinned %ld kB after the close (%ld before the open)\n",
			 now, lck_base);
}

static const struct vdpa_test tests[] = {
	VDPA_TEST(open_dev),
	VDPA_TEST(backend_features),
	VDPA_TEST(device_features),
	VDPA_TEST(pa_unmapped),
	VDPA_TEST(pa_other_asid),
	VDPA_TEST(enable_flood),
	VDPA_TEST(map_memory),
	VDPA_TEST(bad_queue_index),
	VDPA_TEST(bad_ring_size),
	VDPA_TEST(bad_iova_range),
	VDPA_TEST(bad_asid),
	VDPA_TEST(bad_group),
	VDPA_TEST(cvq_group),
	VDPA_TEST(first_setup),
	VDPA_TEST(first_traffic),
	VDPA_TEST_IN(vfio_pins_counted, VFIO),
	VDPA_TEST(suspend_resume),
	VDPA_TEST(reset_setup),
	VDPA_TEST(bad_loop),
	VDPA_TEST(bad_past_mappings),
	VDPA_TEST(bad_indirect_size),
	VDPA_TEST(bad_writable),
	VDPA_TEST(bad_indirect_loop),
	VDPA_TEST(mac_set),
	VDPA_TEST(mac_in_config),
	VDPA_TEST(mac_burst),
	VDPA_TEST(new_mac_delivered),
	VDPA_TEST(old_mac_not_delivered),
	VDPA_TEST_IN(wire_notify_mmap_rules, WIRE),
	VDPA_TEST_IN(wire_doorbells_map, WIRE),
	VDPA_TEST_IN(wire_doorbells_kick, WIRE),
	VDPA_TEST_IN(wire_doorbell_write, WIRE),
	VDPA_TEST_IN(wire_iova_never, WIRE),
	VDPA_TEST_IN(wire_recovery, WIRE),
	VDPA_TEST_IN(wire_polling, WIRE),
	VDPA_TEST(memory_unmapped),
	VDPA_TEST(cvq_asid_unmapped),
	VDPA_TEST_IN(vfio_live_unmap, VFIO),
	VDPA_TEST_IN(vfio_after_live_unmap, VFIO),
	VDPA_TEST_IN(wire_after_invalidation, WIRE),
	VDPA_TEST(pa_after_reset),
	VDPA_TEST(pa_after_reopen),
	VDPA_TEST_IN(vfio_pins_returned, VFIO),
};

int main(int argc, char **argv)
{
	unsigned int mode;

	if (argc != 2 && argc != 3) {
		fprintf(stderr, "usage: %s /dev/vhost-vdpa-N|vfio:UUID|--plan [PEER_IFNAME|vfio:]\n",
			argv[0]);
		return 2;
	}
	/* "--plan vfio:" is the plan of the bridge's mode. */
	iommufd = !strncmp(argv[argc - 1], "iommufd:", 8);
	if (!strncmp(argv[argc - 1], "vfio:", 5) || iommufd)
		mode = VFIO;
	else
		mode = argc == 3 ? WIRE : LOOP;
	if (argc == 3 && mode == VFIO)
		argc = 2;
	vdpa_tests_begin(tests, mode, argv[1]);
	path = argv[1];
	if (argc == 3 && peer_open(argv[2]))
		ksft_exit_fail_msg("packet socket on %s: %s\n", argv[2], strerror(errno));
	mem = add_region(&vd, MEM_SIZE, IOVA_BASE, 0);
	cvq_mem = add_region(&vd, CVQ_SIZE, CVQ_IOVA, 1);
	pa_mem = mmap(NULL, PA_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		      -1, 0);
	if (!mem || !cvq_mem || pa_mem == MAP_FAILED || mlock(pa_mem, PA_PAGES * PAGE))
		ksft_exit_fail_perror("memory");
	place_ring(&vd, RXQ, 0, 0);
	place_ring(&vd, TXQ, 0, 4 * PAGE);
	place_ring(&vd, CVQ, 1, 0);
	lck_base = vm_lck();
	vdpa_tests_run(tests, mode);
	ksft_finished();
}
