// SPDX-License-Identifier: GPL-2.0
/*
 * vdpa_net_loop: sends Ethernet frames on an interface with a packet socket
 * and checks that each comes back on the same interface with the same bytes.
 *
 * Usage: vdpa_net_loop IFNAME DST_MAC MIN_LEN MAX_LEN STEP [EXPECT [RX_IFNAME]]
 *
 * Frames of MIN_LEN..MAX_LEN bytes (Ethernet header included, no FCS) are sent
 * to DST_MAC with a payload that differs per frame. EXPECT is "back" (the
 * default: every frame must come back intact) or "none" (no frame may come
 * back, e.g. for a destination the device filters out). With RX_IFNAME the
 * frames must arrive there instead (two interfaces joined by a wire, such as
 * a function given to a vDPA parent and its peer). Prints one line of
 * counters and exits 0 when the expectation held, 1 when it did not, 2 on a
 * usage or system error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define ETHERTYPE_TEST 0x88b5	/* IEEE 802 local experimental */
#define MAGIC 0x72766470u	/* "rvdp" */
#define MAX_FRAME 9216

struct tag {
	unsigned int magic;
	unsigned int seq;
	unsigned int len;
} __attribute__((packed));

static int parse_mac(const char *s, unsigned char *mac)
{
	unsigned int b[ETH_ALEN];
	int i;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6)
		return -1;
	for (i = 0; i < ETH_ALEN; i++) {
		if (b[i] > 0xff)
			return -1;
		mac[i] = b[i];
	}
	return 0;
}

static void fill(unsigned char *f, unsigned int len, unsigned int seq,
		 const unsigned char *dst, const unsigned char *src)
{
	struct ethhdr *eh = (struct ethhdr *)f;
	struct tag tag = { htonl(MAGIC), htonl(seq), htonl(len) };
	unsigned int i;

	memcpy(eh->h_dest, dst, ETH_ALEN);
	memcpy(eh->h_source, src, ETH_ALEN);
	eh->h_proto = htons(ETHERTYPE_TEST);
	memcpy(f + ETH_HLEN, &tag, sizeof(tag));
	for (i = ETH_HLEN + sizeof(tag); i < len; i++)
		f[i] = (unsigned char)(seq * 31 + i * 7);
}

/* Opens a packet socket for the test EtherType bound to an interface. */
static int open_bound(const char *name)
{
	struct sockaddr_ll sll = { 0 };
	int fd, ifindex = if_nametoindex(name);

	if (!ifindex) {
		fprintf(stderr, "no interface %s: %s\n", name, strerror(errno));
		return -1;
	}
	fd = socket(AF_PACKET, SOCK_RAW, htons(ETHERTYPE_TEST));
	if (fd < 0) {
		perror("socket");
		return -1;
	}
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETHERTYPE_TEST);
	sll.sll_ifindex = ifindex;
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		perror("bind");
		close(fd);
		return -1;
	}
	return fd;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
	unsigned char dst[ETH_ALEN], src[ETH_ALEN], tx[MAX_FRAME], rx[MAX_FRAME], want[MAX_FRAME];
	unsigned int min, max, step, len, seq, sent = 0, back = 0, bad = 0, foreign = 0;
	int expect_back = 1, fd, rfd;
	struct ifreq ifr = { 0 };

	if (argc < 6 || argc > 8 || parse_mac(argv[2], dst)) {
		fprintf(stderr, "usage: %s IFNAME DST_MAC MIN_LEN MAX_LEN STEP [back|none [RX_IFNAME]]\n",
			argv[0]);
		return 2;
	}
	min = strtoul(argv[3], NULL, 0);
	max = strtoul(argv[4], NULL, 0);
	step = strtoul(argv[5], NULL, 0);
	if (argc >= 7)
		expect_back = strcmp(argv[6], "none") != 0;
	if (min < ETH_HLEN + sizeof(struct tag) || max > MAX_FRAME || min > max || !step) {
		fprintf(stderr, "bad lengths\n");
		return 2;
	}
	fd = open_bound(argv[1]);
	rfd = argc == 8 ? open_bound(argv[7]) : fd;
	if (fd < 0 || rfd < 0)
		return 2;
	strncpy(ifr.ifr_name, argv[1], IFNAMSIZ - 1);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
		perror("SIOCGIFHWADDR");
		return 2;
	}
	memcpy(src, ifr.ifr_hwaddr.sa_data, ETH_ALEN);

	for (seq = 0, len = min; len <= max; len += step, seq++) {
		long long deadline;
		int got = 0;

		fill(tx, len, seq, dst, src);
		if (send(fd, tx, len, 0) != (ssize_t)len) {
			fprintf(stderr, "send of %u bytes: %s\n", len, strerror(errno));
			return 2;
		}
		sent++;
		/* Wait for this frame; a frame that does not come back in 2 s is lost. */
		deadline = now_ms() + (expect_back ? 2000 : 200);
		while (!got) {
			struct sockaddr_ll from;
			socklen_t fl = sizeof(from);
			struct pollfd p = { rfd, POLLIN, 0 };
			long long left = deadline - now_ms();
			struct tag t;
			ssize_t n;

			if (left <= 0 || poll(&p, 1, left) <= 0)
				break;
			n = recvfrom(rfd, rx, sizeof(rx), 0, (struct sockaddr *)&from, &fl);
			if (n < 0)
				break;
			if (from.sll_pkttype == PACKET_OUTGOING)
				continue;
			if (n < (ssize_t)(ETH_HLEN + sizeof(t))) {
				foreign++;
				continue;
			}
			memcpy(&t, rx + ETH_HLEN, sizeof(t));
			if (ntohl(t.magic) != MAGIC || ntohl(t.seq) != seq) {
				foreign++;
				continue;
			}
			got = 1;
			fill(want, len, seq, dst, src);
			if ((size_t)n == len && !memcmp(rx, want, len))
				back++;
			else
				bad++;
		}
	}
	printf("sent=%u back=%u corrupt=%u foreign=%u\n", sent, back, bad, foreign);
	if (expect_back)
		return (back == sent && !bad) ? 0 : 1;
	return (back == 0 && !bad) ? 0 : 1;
}
