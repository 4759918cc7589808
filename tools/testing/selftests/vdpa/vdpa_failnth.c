// SPDX-License-Identifier: GPL-2.0
/*
 * vdpa_failnth: fault-injection sweeps with fail-nth
 * (Documentation/fault-injection/fault-injection.rst): for n = 1, 2, ...,
 * the n-th fault-injection point (a slab or page allocation) of one call
 * fails, until the call completes without reaching its n-th point. Each
 * call that met a fault must fail with an errno and leave nothing behind
 * (what it was to create does not exist), or succeed as a whole; after each
 * call what it made is undone without a fault, and the sweep ends with a
 * call that works.
 *
 * Usage: vdpa_failnth devadd BUS|- MGMTDEV NAME   (vdpa dev add over netlink)
 *        vdpa_failnth open PATH                   (open(2) of a device node)
 *        vdpa_failnth iotlb /dev/vhost-vdpa-N     (an IOTLB v2 update of 64 KiB)
 *        vdpa_failnth write FILE STRING CHECK [UNDO UNDOSTRING]
 *            (a sysfs write: bind, mdev create, sriov_numvfs; CHECK is a path
 *            that exists iff it worked; UNDO gets UNDOSTRING to undo it)
 *
 * Prints "N points, errnos E1 E2 ...: ok" when every call behaved (N calls
 * met a fault, E the errnos they failed with; ETIME: a netlink request got
 * no answer, its ack's allocation failed, and either outcome is right), or
 * what went wrong and exits 1. Needs CONFIG_FAULT_INJECTION, FAILSLAB and FAIL_PAGE_ALLOC, with their
 * debugfs knobs set to fail sleeping allocations too (vdpa_failnth.sh does).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/vdpa.h>
#include <linux/vhost.h>

#define MAX_POINTS 5000
#define BUF 8192

static int failfd = -1;
static char errnos[256];

static void die(const char *what)
{
	printf("%s: %s\n", what, strerror(errno));
	exit(1);
}

/* Makes the n-th fault-injection point of this task fail (0: none). */
static void arm(int n)
{
	char s[16];
	int len = snprintf(s, sizeof(s), "%d", n);

	if (pwrite(failfd, s, len, 0) != len)
		die("fail-nth");
}

/* Whether the armed fault was injected; disarms it. */
static int injected(void)
{
	char s[16] = "";

	if (pread(failfd, s, sizeof(s) - 1, 0) < 0)
		die("fail-nth");
	arm(0);
	return atoi(s) == 0;
}

static void saw(int e)
{
	char s[16];

	snprintf(s, sizeof(s), " %d", e);
	if (!strstr(errnos, s) && strlen(errnos) + strlen(s) < sizeof(errnos))
		strcat(errnos, s);
}

/* --- generic netlink --- */

static int nl = -1, family;
static unsigned int seq = 1;

static int put_attr(char *p, int type, const void *data, int len)
{
	struct nlattr *a = (void *)p;

	a->nla_type = type;
	a->nla_len = NLA_HDRLEN + len;
	memcpy(p + NLA_HDRLEN, data, len);
	memset(p + NLA_HDRLEN + len, 0, NLA_ALIGN(a->nla_len) - a->nla_len);
	return NLA_ALIGN(a->nla_len);
}

static int put_str(char *p, int type, const char *s)
{
	return put_attr(p, type, s, strlen(s) + 1);
}

/*
 * Sends a request and waits for its ack: 0, the ack's negative errno, or
 * -ETIME when none came (see below). A reply with data before the ack is
 * copied to reply.
 */
static int request(int fam, int cmd, const char *attrs, int alen, char *reply)
{
	static char buf[BUF], in[BUF];
	struct nlmsghdr *h = (void *)buf;
	struct genlmsghdr *g = NLMSG_DATA(h);
	int n;

	memset(buf, 0, NLMSG_HDRLEN + GENL_HDRLEN);
	h->nlmsg_len = NLMSG_HDRLEN + GENL_HDRLEN + alen;
	h->nlmsg_type = fam;
	h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	h->nlmsg_seq = ++seq;
	g->cmd = cmd;
	g->version = 1;
	memcpy(buf + NLMSG_HDRLEN + GENL_HDRLEN, attrs, alen);
	if (send(nl, buf, h->nlmsg_len, 0) < 0)
		return -errno;
	for (;;) {
		struct nlmsghdr *r = (void *)in;

		n = recv(nl, in, sizeof(in), 0);
		/*
		 * No answer: the ack's allocation failed (the socket then reports
		 * ENOBUFS), or it never came. What the kernel did is unknown.
		 */
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS ? -ETIME :
											      -errno;
		if (n < (int)NLMSG_HDRLEN || r->nlmsg_seq != seq)
			continue;
		if (r->nlmsg_type == NLMSG_ERROR)
			return ((struct nlmsgerr *)NLMSG_DATA(r))->error;
		if (reply)
			memcpy(reply, in, n);
	}
}

static void nl_open(void)
{
	struct timeval tv = { 2, 0 };
	static char attrs[64], reply[BUF];
	struct nlmsghdr *h = (void *)reply;
	int alen, off;

	nl = socket(AF_NETLINK, SOCK_RAW, NETLINK_GENERIC);
	if (nl < 0 || setsockopt(nl, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)))
		die("netlink");
	alen = put_str(attrs, CTRL_ATTR_FAMILY_NAME, VDPA_GENL_NAME);
	if (request(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, attrs, alen, reply))
		die("the vdpa netlink family");
	for (off = NLMSG_HDRLEN + GENL_HDRLEN; off + NLA_HDRLEN <= (int)h->nlmsg_len;) {
		struct nlattr *a = (void *)(reply + off);

		if (a->nla_len < NLA_HDRLEN)
			break;
		if (a->nla_type == CTRL_ATTR_FAMILY_ID)
			family = *(uint16_t *)((char *)a + NLA_HDRLEN);
		off += NLA_ALIGN(a->nla_len);
	}
	if (!family) {
		errno = ENOENT;
		die("the vdpa netlink family");
	}
}

static int dev_attrs(char *p, const char *bus, const char *mgmt, const char *name)
{
	int n = 0;

	if (bus && strcmp(bus, "-"))
		n += put_str(p + n, VDPA_ATTR_MGMTDEV_BUS_NAME, bus);
	if (mgmt)
		n += put_str(p + n, VDPA_ATTR_MGMTDEV_DEV_NAME, mgmt);
	return n + put_str(p + n, VDPA_ATTR_DEV_NAME, name);
}

static int exists(const char *path)
{
	return access(path, F_OK) == 0;
}

/* --- the sweeps --- */

/*
 * One sweep: call() returns 0 or a negative errno; made() says whether what
 * it creates exists; undo() removes it (no fault armed).
 */
static int sweep(int (*call)(void), int (*made)(void), void (*undo)(void))
{
	int n, points = 0;

	for (n = 1; n <= MAX_POINTS; n++) {
		int r, hit, there;

		arm(n);
		r = call();
		hit = injected();
		there = made();
		if (hit) {
			points++;
			if (r == -ETIME) {
				/* No answer: either outcome, as long as it is whole. */
				saw(ETIME);
			} else if (r == 0 && !there) {
				printf("fault %d: the call succeeded, but made nothing\n", n);
				return 1;
			}
			if (r < 0 && there) {
				printf("fault %d: the call failed (%s), but left its object\n", n,
				       strerror(-r));
				return 1;
			}
			if (r < 0)
				saw(-r);
		} else if (r) {
			printf("no fault (%d points): the call failed: %s\n", n - 1, strerror(-r));
			return 1;
		}
		if (there)
			undo();
		if (made()) {
			printf("fault %d: what the call made cannot be undone\n", n);
			return 1;
		}
		if (!hit) {
			printf("%d points, errnos%s: ok\n", points, errnos[0] ? errnos : " none");
			return 0;
		}
	}
	printf("still faulting after %d points\n", MAX_POINTS);
	return 1;
}

static const char *bus, *mgmt, *name, *path, *str, *check, *undo_path, *undo_str;
static char sysdev[256];
static int vfd = -1;
static uint8_t *mem;

static int devadd(void)
{
	static char attrs[256];

	return request(family, VDPA_CMD_DEV_NEW, attrs, dev_attrs(attrs, bus, mgmt, name), NULL);
}

static int devadd_made(void)
{
	return exists(sysdev);
}

static void devadd_undo(void)
{
	static char attrs[256];

	request(family, VDPA_CMD_DEV_DEL, attrs, dev_attrs(attrs, NULL, NULL, name), NULL);
}

static int do_open(void)
{
	vfd = open(path, O_RDWR);
	return vfd < 0 ? -errno : 0;
}

static int open_made(void)
{
	return vfd >= 0;
}

static void open_undo(void)
{
	close(vfd);
	vfd = -1;
}

static int iotlb_msg(uint8_t type)
{
	struct vhost_msg_v2 m = {
		.type = VHOST_IOTLB_MSG_V2,
		.iotlb = { .iova = 0x100000, .size = 64 << 10, .uaddr = (uintptr_t)mem,
			   .perm = VHOST_ACCESS_RW, .type = type },
	};

	return write(vfd, &m, sizeof(m)) == sizeof(m) ? 0 : -errno;
}

static int iotlb(void)
{
	return iotlb_msg(VHOST_IOTLB_UPDATE);
}

/*
 * Whether the range is mapped, asked without a fault: the same update again
 * is refused as an overlap (EEXIST) if it is; if it is not, it maps, and is
 * taken back.
 */
static int iotlb_made(void)
{
	int r = iotlb_msg(VHOST_IOTLB_UPDATE);

	if (r == 0)
		iotlb_msg(VHOST_IOTLB_INVALIDATE);
	return r != 0;
}

static void iotlb_undo(void)
{
	iotlb_msg(VHOST_IOTLB_INVALIDATE);
}

/* The file is opened before the sweep: each write is one store. */
static int do_write(void)
{
	return pwrite(vfd, str, strlen(str), 0) < 0 ? -errno : 0;
}

static int write_made(void)
{
	return exists(check);
}

static void write_undo(void)
{
	int fd = undo_path ? open(undo_path, O_WRONLY) : -1;

	if (fd >= 0) {
		if (write(fd, undo_str, strlen(undo_str)) < 0)
			perror(undo_path);
		close(fd);
	}
	/* Removals may finish asynchronously. */
	for (int i = 0; i < 50 && exists(check); i++)
		usleep(100000);
}

int main(int argc, char **argv)
{
	char fp[64];

	if (argc < 3) {
		fprintf(stderr, "usage: see the head of vdpa_failnth.c\n");
		return 2;
	}
	mem = mmap(NULL, 64 << 10, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	/* Nothing of ours faults in while a fault is armed. */
	if (mem == MAP_FAILED || mlockall(MCL_CURRENT | MCL_FUTURE))
		die("memory");
	snprintf(fp, sizeof(fp), "/proc/thread-self/fail-nth");
	failfd = open(fp, O_RDWR);
	if (failfd < 0)
		die(fp);
	if (!strcmp(argv[1], "devadd") && argc == 5) {
		bus = argv[2];
		mgmt = argv[3];
		name = argv[4];
		snprintf(sysdev, sizeof(sysdev), "/sys/bus/vdpa/devices/%s", name);
		nl_open();
		return sweep(devadd, devadd_made, devadd_undo);
	}
	if (!strcmp(argv[1], "open") && argc == 3) {
		path = argv[2];
		return sweep(do_open, open_made, open_undo);
	}
	if (!strcmp(argv[1], "iotlb") && argc == 3) {
		uint64_t f = 1ull << VHOST_BACKEND_F_IOTLB_MSG_V2;

		path = argv[2];
		if (do_open() || ioctl(vfd, VHOST_SET_OWNER) ||
		    ioctl(vfd, VHOST_SET_BACKEND_FEATURES, &f))
			die(path);
		return sweep(iotlb, iotlb_made, iotlb_undo);
	}
	if (!strcmp(argv[1], "write") && (argc == 5 || argc == 7)) {
		path = argv[2];
		str = argv[3];
		check = argv[4];
		undo_path = argc == 7 ? argv[5] : NULL;
		undo_str = argc == 7 ? argv[6] : NULL;
		vfd = open(path, O_WRONLY);
		if (vfd < 0)
			die(path);
		return sweep(do_write, write_made, write_undo);
	}
	fprintf(stderr, "usage: see the head of vdpa_failnth.c\n");
	return 2;
}
