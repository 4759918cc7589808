// SPDX-License-Identifier: GPL-2.0
/*
 * The control path of a vfio_vdpa device (include/uapi/linux/vfio_vdpa.h),
 * opened as a VMM does through a type1 container: VFIO_DEVICE_GET_INFO, the
 * CONFIG region, and the vhost-vdpa ioctls on the VFIO device fd with their
 * errnos.
 *
 * Usage: vfio_vdpa_ctl /dev/vfio/N UUID MAC FEATURES | --plan
 *   N is the mdev's IOMMU group, UUID the mdev, MAC the net device's
 *   provisioned address, FEATURES (hex) the features it must offer.
 * Usage: vfio_vdpa_ctl hold /dev/vfio/N UUID
 *   Opens the mdev, gives it 64 KiB, prints "ready" and holds it open until
 *   standard input ends, answering questions (see hold()).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/vfio.h>
#include <linux/vfio_vdpa.h>
#include <linux/vhost.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_net.h>

#include "vdpa_test.h"

static const char *group_path, *uuid;
static unsigned char mac[6];
static unsigned long long want_features;
static int container = -1, group = -1, dev = -1;
static struct vfio_region_info config = { .argsz = sizeof(config) };

/* The ioctl's errno, 0 on success. */
static int xioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) < 0 ? errno : 0;
}

static int set_status(uint8_t s)
{
	return xioctl(dev, VHOST_VDPA_SET_STATUS, &s);
}

static uint8_t get_status(void)
{
	uint8_t s = 0xff;

	if (xioctl(dev, VHOST_VDPA_GET_STATUS, &s))
		return 0xff;
	return s;
}

/* Opens the mdev through a type1 container: 0, an errno, or < 0 for a check that failed. */
static int open_fds(void)
{
	struct vfio_group_status gs = { .argsz = sizeof(gs) };
	int r = 0;

	container = open("/dev/vfio/vfio", O_RDWR);
	if (container < 0)
		return errno;
	if (ioctl(container, VFIO_GET_API_VERSION) != VFIO_API_VERSION)
		return -1;
	if (ioctl(container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) != 1)
		return -2;
	group = open(group_path, O_RDWR);
	if (group < 0)
		return errno;
	if (xioctl(group, VFIO_GROUP_GET_STATUS, &gs) || !(gs.flags & VFIO_GROUP_FLAGS_VIABLE))
		return -3;
	r = xioctl(group, VFIO_GROUP_SET_CONTAINER, &container);
	if (!r && ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU))
		r = errno;
	if (!r) {
		dev = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, uuid);
		if (dev < 0)
			r = errno;
	}
	return r;
}

static void open_type1(void)
{
	int r = open_fds();

	if (r)
		ksft_exit_fail_msg("cannot open %s in %s through type1: %d (%s)\n", uuid,
				   group_path, r, r > 0 ? strerror(r) : "");
	ksft_test_result_pass("the mdev opens through a type1 container\n");
}

/*
 * Holds the device open until standard input ends, for the removal tests,
 * with 64 KiB given to the device (pinned). Prints "ready BASE" once it is
 * open and the memory pinned, BASE being VmLck before the pins; then for
 * each line "lck" it reads, VmLck, for each line "status", the errno of
 * VHOST_VDPA_GET_STATUS (0 when it succeeds), for each line "req", 1 if
 * the REQ interrupt's eventfd was signalled since it last asked, else 0.
 * "bell" maps queue 0's doorbell page of the NOTIFY region (0, or the
 * errno); "touch" stores to it from a child process and prints "ok", or
 * "sigbus" if the store faulted; "reset" resets the device (VFIO_DEVICE_RESET:
 * 0, or the errno).
 */
static volatile uint16_t *bell;

static int map_bell(void)
{
	struct vfio_region_info n = { .argsz = sizeof(n), .index = VFIO_VDPA_NOTIFY_REGION_INDEX };
	void *p;

	if (xioctl(dev, VFIO_DEVICE_GET_REGION_INFO, &n))
		return errno;
	p = mmap(NULL, 4096, PROT_WRITE, MAP_SHARED, dev, n.offset);
	if (p == MAP_FAILED)
		return errno;
	bell = p;
	return 0;
}

static const char *touch_bell(void)
{
	int st;
	pid_t pid;

	if (!bell)
		return "unmapped";
	pid = fork();
	if (!pid) {
		*bell = 0;
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return "error";
	if (WIFSIGNALED(st))
		return WTERMSIG(st) == SIGBUS ? "sigbus" : "signal";
	return "ok";
}

static int hold(void)
{
	struct {
		struct vfio_vdpa_dma_map m;
		struct vfio_vdpa_dma_range r;
	} map = {
		.m = { .argsz = sizeof(map), .count = 1 },
		.r = { .iova = 0x100000, .size = 64 << 10, .perm = VHOST_ACCESS_RW },
	};
	struct vfio_iommu_type1_dma_map cmap = {
		.argsz = sizeof(cmap), .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.iova = 0x100000, .size = 64 << 10,
	};
	struct {
		struct vfio_irq_set s;
		int32_t fd;
	} req = {
		.s = { .argsz = sizeof(req),
		       .flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
		       .index = VFIO_VDPA_REQ_IRQ_INDEX, .count = 1 },
	};
	char line[64];
	void *m = mmap(NULL, 64 << 10, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	long base;
	int r = open_fds();

	if (r || m == MAP_FAILED || mlock(m, 64 << 10)) {
		fprintf(stderr, "cannot open %s in %s: %d\n", uuid, group_path, r);
		return 1;
	}
	cmap.vaddr = (uintptr_t)m;
	base = vdpa_pinned_kb(0);
	if (xioctl(container, VFIO_IOMMU_MAP_DMA, &cmap) || xioctl(dev, VFIO_VDPA_DMA_MAP, &map)) {
		fprintf(stderr, "cannot map memory: %s\n", strerror(errno));
		return 1;
	}
	req.fd = eventfd(0, EFD_NONBLOCK);
	if (req.fd < 0 || xioctl(dev, VFIO_DEVICE_SET_IRQS, &req)) {
		fprintf(stderr, "cannot set the REQ eventfd: %s\n", strerror(errno));
		return 1;
	}
	printf("ready %ld\n", base);
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		uint64_t n = 0;
		uint8_t s;

		if (!strncmp(line, "lck", 3))
			printf("%ld\n", vdpa_pinned_kb(0));
		else if (!strncmp(line, "status", 6))
			printf("%d\n", xioctl(dev, VHOST_VDPA_GET_STATUS, &s));
		else if (!strncmp(line, "req", 3))
			printf("%d\n", read(req.fd, &n, sizeof(n)) == sizeof(n) && n > 0);
		else if (!strncmp(line, "bell", 4))
			printf("%d\n", map_bell());
		else if (!strncmp(line, "touch", 5))
			printf("%s\n", touch_bell());
		else if (!strncmp(line, "reset", 5))
			printf("%d\n", xioctl(dev, VFIO_DEVICE_RESET, NULL));
		fflush(stdout);
	}
	return close(dev) || close(group) || close(container);
}

static void get_info(void)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };
	int r = xioctl(dev, VFIO_DEVICE_GET_INFO, &info);

	ksft_test_result(!r && (info.flags & VFIO_DEVICE_FLAGS_VDPA) &&
			 (info.flags & VFIO_DEVICE_FLAGS_RESET) && info.num_regions == 2 &&
			 info.num_irqs == 3,
			 "VFIO_DEVICE_GET_INFO: a vDPA device, 2 regions, 3 irq indexes (%d: flags %#x, %u, %u)\n",
			 r, info.flags, info.num_regions, info.num_irqs);
}

static void get_info_short(void)
{
	struct vfio_device_info info = { .argsz = 8 };
	int r = xioctl(dev, VFIO_DEVICE_GET_INFO, &info);

	ksft_test_result(r == EINVAL, "VFIO_DEVICE_GET_INFO with a short argsz: EINVAL (%d)\n", r);
}

static void region_info(void)
{
	struct vfio_region_info other = { .argsz = sizeof(other), .index = 2 };
	int r, r2;

	config.index = VFIO_VDPA_CONFIG_REGION_INDEX;
	r = xioctl(dev, VFIO_DEVICE_GET_REGION_INFO, &config);
	r2 = xioctl(dev, VFIO_DEVICE_GET_REGION_INFO, &other);
	ksft_test_result(!r && config.size >= 6 &&
			 config.flags == (VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE) &&
			 r2 == EINVAL,
			 "the CONFIG region is readable and writable, region 2 EINVAL (%d: size %llu flags %#x; %d)\n",
			 r, (unsigned long long)config.size, config.flags, r2);
}

static void notify_region_info(void)
{
	struct vfio_region_info n = { .argsz = sizeof(n), .index = VFIO_VDPA_NOTIFY_REGION_INDEX };
	int r = xioctl(dev, VFIO_DEVICE_GET_REGION_INFO, &n);

	ksft_test_result(!r && n.size == 3 * 4096 && n.flags == VFIO_REGION_INFO_FLAG_WRITE &&
			 n.offset != config.offset,
			 "the NOTIFY region: a page per queue, write-only (%d: size %llu flags %#x)\n",
			 r, (unsigned long long)n.size, n.flags);
}

static void irq_info(void)
{
	struct vfio_irq_info vq = { .argsz = sizeof(vq), .index = VFIO_VDPA_VQ_IRQ_INDEX };
	struct vfio_irq_info cfg = { .argsz = sizeof(cfg), .index = VFIO_VDPA_CONFIG_IRQ_INDEX };
	struct vfio_irq_info req = { .argsz = sizeof(req), .index = VFIO_VDPA_REQ_IRQ_INDEX };
	struct vfio_irq_info bad = { .argsz = sizeof(bad), .index = 3 };
	struct vfio_irq_info shrt = { .argsz = 8, .index = 0 };
	const unsigned int fl = VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE;
	int r = xioctl(dev, VFIO_DEVICE_GET_IRQ_INFO, &vq);
	int r2 = xioctl(dev, VFIO_DEVICE_GET_IRQ_INFO, &cfg);
	int r3 = xioctl(dev, VFIO_DEVICE_GET_IRQ_INFO, &bad);
	int r4 = xioctl(dev, VFIO_DEVICE_GET_IRQ_INFO, &shrt);
	int r5 = xioctl(dev, VFIO_DEVICE_GET_IRQ_INFO, &req);

	ksft_test_result(!r && vq.count == 3 && vq.flags == fl && !r2 && cfg.count == 1 &&
			 cfg.flags == fl && !r5 && req.count == 1 && req.flags == fl &&
			 r3 == EINVAL && r4 == EINVAL,
			 "irq info: VQ 3 eventfds, CONFIG 1, REQ 1; index 3 and a short argsz EINVAL (%d %u, %d %u, %d %u, %d, %d)\n",
			 r, vq.count, r2, cfg.count, r5, req.count, r3, r4);
}

static void device_id(void)
{
	uint32_t id = 0;
	int r = xioctl(dev, VHOST_VDPA_GET_DEVICE_ID, &id);

	ksft_test_result(!r && id == VIRTIO_ID_NET, "VHOST_VDPA_GET_DEVICE_ID: net (%d: %u)\n", r, id);
}

static void features(void)
{
	uint64_t f = 0;
	int r = xioctl(dev, VHOST_GET_FEATURES, &f);

	ksft_test_result(!r && f == want_features,
			 "VHOST_GET_FEATURES: the device's features (%d: %#llx, want %#llx)\n", r,
			 (unsigned long long)f, want_features);
}

static void config_size(void)
{
	uint32_t size = 0;
	int r = xioctl(dev, VHOST_VDPA_GET_CONFIG_SIZE, &size);

	ksft_test_result(!r && size == config.size,
			 "VHOST_VDPA_GET_CONFIG_SIZE: the CONFIG region's size (%d: %u)\n", r, size);
}

static void config_mac(void)
{
	unsigned char got[6] = { 0 };
	ssize_t n = pread(dev, got, 6, config.offset + offsetof(struct virtio_net_config, mac));

	ksft_test_result(n == 6 && !memcmp(got, mac, 6),
			 "the CONFIG region has the provisioned MAC (%zd: %02x:%02x:%02x:%02x:%02x:%02x)\n",
			 n, got[0], got[1], got[2], got[3], got[4], got[5]);
}

static void config_read_past(void)
{
	unsigned char b[8];
	ssize_t n1 = pread(dev, b, 1, config.offset + config.size);
	int e1 = errno;
	ssize_t n2 = pread(dev, b, 2, config.offset + config.size - 1);
	int e2 = errno;

	ksft_test_result(n1 < 0 && e1 == EINVAL && n2 < 0 && e2 == EINVAL,
			 "CONFIG reads past and across the end: EINVAL (%zd %d, %zd %d)\n", n1, e1, n2,
			 e2);
}

static void config_last_byte(void)
{
	unsigned char b;
	ssize_t n = pread(dev, &b, 1, config.offset + config.size - 1);

	ksft_test_result(n == 1, "CONFIG read of its last byte (%zd)\n", n);
}

static void vqs_count(void)
{
	uint32_t n = 0;
	int r = xioctl(dev, VHOST_VDPA_GET_VQS_COUNT, &n);

	ksft_test_result(!r && n == 3, "VHOST_VDPA_GET_VQS_COUNT: 3 (%d: %u)\n", r, n);
}

static uint16_t vring_max;

static void vring_num_max(void)
{
	int r = xioctl(dev, VHOST_VDPA_GET_VRING_NUM, &vring_max);

	ksft_test_result(!r && vring_max && !(vring_max & (vring_max - 1)),
			 "VHOST_VDPA_GET_VRING_NUM: a power of two (%d: %u)\n", r, vring_max);
}

static void vring_num(void)
{
	struct vhost_vring_state ok = { .index = 0, .num = vring_max };
	struct vhost_vring_state odd = { .index = 0, .num = 100 };
	struct vhost_vring_state zero = { .index = 1, .num = 0 };
	struct vhost_vring_state big = { .index = 1, .num = 2u * vring_max };
	struct vhost_vring_state noq = { .index = 3, .num = vring_max };
	int r = xioctl(dev, VHOST_SET_VRING_NUM, &ok);
	int r100 = xioctl(dev, VHOST_SET_VRING_NUM, &odd);
	int r0 = xioctl(dev, VHOST_SET_VRING_NUM, &zero);
	int rbig = xioctl(dev, VHOST_SET_VRING_NUM, &big);
	int rnoq = xioctl(dev, VHOST_SET_VRING_NUM, &noq);

	ksft_test_result(!r && r100 == EINVAL && r0 == EINVAL && rbig == EINVAL && rnoq == ENOBUFS,
			 "VHOST_SET_VRING_NUM: max ok; 100, 0, 2 x max EINVAL; queue 3 ENOBUFS (%d %d %d %d %d)\n",
			 r, r100, r0, rbig, rnoq);
}

static void status_after_open(void)
{
	uint8_t s = get_status();

	ksft_test_result(s == 0, "the status is 0 after open (%#x)\n", s);
}

static void status_no_features_ok(void)
{
	int r = set_status(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
			   VIRTIO_CONFIG_S_DRIVER_OK);
	uint8_t s = get_status();

	ksft_test_result(r == EINVAL && !(s & VIRTIO_CONFIG_S_DRIVER_OK),
			 "DRIVER_OK without FEATURES_OK: EINVAL (%d, status %#x)\n", r, s);
}

static void negotiate(void)
{
	uint64_t f = want_features & ((1ULL << VIRTIO_F_VERSION_1) |
				      (1ULL << VIRTIO_F_ACCESS_PLATFORM) |
				      (1ULL << VIRTIO_NET_F_MAC));
	uint8_t s = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;
	int r = set_status(s);

	if (!r)
		r = xioctl(dev, VHOST_SET_FEATURES, &f);
	if (!r)
		r = set_status(s | VIRTIO_CONFIG_S_FEATURES_OK);
	s = get_status();
	ksft_test_result(!r && s == (VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
				     VIRTIO_CONFIG_S_FEATURES_OK),
			 "ACKNOWLEDGE, DRIVER, SET_FEATURES, FEATURES_OK (%d, status %#x)\n", r, s);
}

static void features_after_features_ok(void)
{
	uint64_t f = 1ULL << VIRTIO_F_VERSION_1 | 1ULL << VIRTIO_F_ACCESS_PLATFORM;
	int r = xioctl(dev, VHOST_SET_FEATURES, &f);

	ksft_test_result(r == EBUSY, "VHOST_SET_FEATURES after FEATURES_OK: EBUSY (%d)\n", r);
}

static void status_clear_bit(void)
{
	int r = set_status(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	uint8_t s = get_status();

	ksft_test_result(r == EINVAL && (s & VIRTIO_CONFIG_S_FEATURES_OK),
			 "clearing FEATURES_OK without a reset: EINVAL, nothing changed (%d, %#x)\n",
			 r, s);
}

static void status_reset(void)
{
	int r = set_status(0);
	uint8_t s = get_status();

	ksft_test_result(!r && s == 0, "SET_STATUS 0 resets (%d, status %#x)\n", r, s);
}

static void unknown_ioctls(void)
{
	struct vhost_vring_file kick = { .index = 0, .fd = -1 };
	uint64_t x = 0;
	int r1 = xioctl(dev, _IO(VHOST_VIRTIO, 0x7f), &x);
	int r2 = xioctl(dev, VHOST_SET_VRING_KICK, &kick);
	int r3 = xioctl(dev, VHOST_SET_LOG_BASE, &x);

	ksft_test_result(r1 == ENOTTY && r2 == ENOTTY && r3 == ENOTTY,
			 "unknown and refused vhost ioctls: ENOTTY (%d %d %d)\n", r1, r2, r3);
}

static void close_all(void)
{
	int r = close(dev) || close(group) || close(container);

	ksft_test_result(!r, "the device, group and container close (%d)\n", r);
}

static const struct vdpa_test tests[] = {
	VDPA_TEST(open_type1),
	VDPA_TEST(get_info),
	VDPA_TEST(get_info_short),
	VDPA_TEST(region_info),
	VDPA_TEST(notify_region_info),
	VDPA_TEST(irq_info),
	VDPA_TEST(device_id),
	VDPA_TEST(features),
	VDPA_TEST(config_size),
	VDPA_TEST(config_mac),
	VDPA_TEST(config_read_past),
	VDPA_TEST(config_last_byte),
	VDPA_TEST(vqs_count),
	VDPA_TEST(vring_num_max),
	VDPA_TEST(vring_num),
	VDPA_TEST(status_after_open),
	VDPA_TEST(status_no_features_ok),
	VDPA_TEST(negotiate),
	VDPA_TEST(features_after_features_ok),
	VDPA_TEST(status_clear_bit),
	VDPA_TEST(status_reset),
	VDPA_TEST(unknown_ioctls),
	VDPA_TEST(close_all),
};

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "--plan"))
		vdpa_tests_begin(tests, 1, argv[1]);
	if (argc == 4 && !strcmp(argv[1], "hold")) {
		group_path = argv[2];
		uuid = argv[3];
		return hold();
	}
	if (argc != 5 || sscanf(argv[3], "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2],
				&mac[3], &mac[4], &mac[5]) != 6) {
		fprintf(stderr, "usage: %s /dev/vfio/N UUID MAC FEATURES | --plan | hold /dev/vfio/N UUID\n",
			argv[0]);
		return 2;
	}
	vdpa_tests_begin(tests, 1, argv[1]);
	group_path = argv[1];
	uuid = argv[2];
	want_features = strtoull(argv[4], NULL, 16);
	vdpa_tests_run(tests, 1);
	ksft_finished();
}
