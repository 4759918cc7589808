// SPDX-License-Identifier: GPL-2.0
/*
 * Bad input to a vfio_vdpa mdev (include/uapi/linux/vfio_vdpa.h), through a
 * type1 container: every request a VMM or a broken client can make wrong is
 * refused with its errno, and changes nothing: DMA messages (IOVAs not
 * mapped in VFIO, user addresses, sizes of 0, misalignment, wrapping,
 * overlaps, unknown address spaces and permissions, write access to
 * read-only memory, unmaps of nothing or of half a range), SET_IRQS (bad
 * indexes, ranges, actions, data types, files), the NOTIFY region (reads,
 * odd sizes and offsets, queues the device lacks, mmap) and the vhost
 * ioctls (queues the device lacks, misaligned or logged rings, requests at
 * DRIVER_OK). A partly bad DMA_MAP pins nothing, and at the end every pinned
 * page is back (VmLck).
 *
 * Usage: vfio_vdpa_bad UUID | --plan
 *   UUID is an mdev of a vDPA net device with 3 queues and 2 address spaces.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/vfio.h>
#include <linux/vfio_vdpa.h>

#include "vhost_vdpa_lib.h"

#define NVQS 3
#define MEM_SIZE (64u << 10)
#define IOVA_MEM 0x100000ull
#define RO_SIZE (16u << 10)
#define IOVA_RO 0x200000ull
#define IOVA_NONE 0x800000ull

static struct dev d;
static uint8_t *mem, *ro;
static uint64_t config_off;
static long lck_base;

/* The errno of a failed call, 0 on success. */
static int err(int r)
{
	return r < 0 ? errno : 0;
}

static long vm_lck(void)
{
	return vdpa_pinned_kb(0);
}

/* VFIO_VDPA_DMA_MAP of up to two ranges, every field given. */
static int dma_map_raw(uint32_t argsz, uint32_t flags, uint32_t asid, uint32_t count,
		       const struct vfio_vdpa_dma_range *r, int nr)
{
	struct {
		struct vfio_vdpa_dma_map m;
		struct vfio_vdpa_dma_range r[2];
	} map = { .m = { .argsz = argsz, .flags = flags, .asid = asid, .count = count } };

	memcpy(map.r, r, nr * sizeof(*r));
	return err(ioctl(d.fd, VFIO_VDPA_DMA_MAP, &map));
}

/* One well-formed range. */
static int dma_map(uint32_t asid, uint64_t iova, uint64_t size, uint32_t perm)
{
	struct vfio_vdpa_dma_range r = { .iova = iova, .size = size, .perm = perm };

	return dma_map_raw(sizeof(struct vfio_vdpa_dma_map) + sizeof(r), 0, asid, 1, &r, 1);
}

static int dma_unmap(uint32_t flags, uint32_t asid, uint64_t iova, uint64_t size,
		     uint32_t reserved)
{
	struct vfio_vdpa_dma_unmap u = {
		.argsz = sizeof(u), .flags = flags, .asid = asid, .reserved = reserved,
		.iova = iova, .size = size,
	};

	return err(ioctl(d.fd, VFIO_VDPA_DMA_UNMAP, &u));
}

/* VFIO_DEVICE_SET_IRQS with one int of data, every field given. */
static int set_irqs(uint32_t argsz, uint32_t flags, uint32_t index, uint32_t start,
		    uint32_t count, int fd)
{
	struct {
		struct vfio_irq_set s;
		int32_t fd[2];
	} set = {
		.s = { .argsz = argsz, .flags = flags, .index = index, .start = start,
		       .count = count },
		.fd = { fd, fd },
	};

	return err(ioctl(d.fd, VFIO_DEVICE_SET_IRQS, &set));
}

#define TRIGGER_FD (VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER)
#define IRQ_ARGSZ (sizeof(struct vfio_irq_set) + sizeof(int32_t))

static int notify_write(uint64_t off, int len)
{
	uint64_t v = 0;

	return err(pwrite(d.fd, &v, len, d.notify_off + off));
}

static int mmap_at(uint64_t off)
{
	void *p = mmap(NULL, PAGE, PROT_WRITE, MAP_SHARED, d.fd, off);

	if (p == MAP_FAILED)
		return errno;
	munmap(p, PAGE);
	return 0;
}

static int vring_addr(uint32_t idx, uint32_t flags, uint64_t desc, uint64_t avail, uint64_t used)
{
	struct vhost_vring_addr a = {
		.index = idx, .flags = flags, .desc_user_addr = desc,
		.avail_user_addr = avail, .used_user_addr = used,
	};

	return err(ioctl(d.fd, VHOST_SET_VRING_ADDR, &a));
}

static int vring_state(unsigned long cmd, uint32_t idx, uint32_t num)
{
	struct vhost_vring_state s = { idx, num };

	return err(ioctl(d.fd, cmd, &s));
}

static int get_config_raw(uint32_t off, uint32_t len)
{
	struct {
		struct vhost_vdpa_config c;
		uint8_t buf[64];
	} c = { .c = { .off = off, .len = len } };

	return err(ioctl(d.fd, VHOST_VDPA_GET_CONFIG, &c));
}

static int u64_ioctl(unsigned long cmd, uint64_t v)
{
	return err(ioctl(d.fd, cmd, &v));
}

static int status(uint8_t s)
{
	return err(ioctl(d.fd, VHOST_VDPA_SET_STATUS, &s));
}

/* Reports the errno of a bad request against the one it must get. */
static void report(int got, int want, const char *what)
{
	ksft_test_result(got == want, "%s: %s (%s)\n", what, want ? strerror(want) : "accepted",
			 got ? strerror(got) : "accepted");
}

#define BAD(name, want, what, expr) \
	static void name(void) { report((expr), (want), (what)); }

/* DMA_MAP: each bad, nothing mapped. */
BAD(dma_not_in_vfio, EFAULT, "DMA_MAP of IOVAs the container does not map",
    dma_map(0, IOVA_NONE, PAGE, VHOST_ACCESS_RW))
BAD(dma_user_address, EFAULT, "DMA_MAP of the memory's user address as IOVA",
    dma_map(0, (uintptr_t)mem, PAGE, VHOST_ACCESS_RW))
BAD(dma_size_zero, EINVAL, "DMA_MAP of size 0", dma_map(0, IOVA_MEM, 0, VHOST_ACCESS_RW))
BAD(dma_unaligned_iova, EINVAL, "DMA_MAP at an IOVA not page aligned",
    dma_map(0, IOVA_MEM + 1, PAGE, VHOST_ACCESS_RW))
BAD(dma_unaligned_size, EINVAL, "DMA_MAP of a size not page aligned",
    dma_map(0, IOVA_MEM, PAGE + 1, VHOST_ACCESS_RW))
BAD(dma_bad_asid, EINVAL, "DMA_MAP in address space 7", dma_map(7, IOVA_MEM, PAGE, VHOST_ACCESS_RW))
BAD(dma_perm_zero, EINVAL, "DMA_MAP with permission 0", dma_map(0, IOVA_MEM, PAGE, 0))
BAD(dma_perm_unknown, EINVAL, "DMA_MAP with permission 4", dma_map(0, IOVA_MEM, PAGE, 4))
BAD(dma_wrap, EOVERFLOW, "DMA_MAP of a range that wraps",
    dma_map(0, ~0ull - PAGE + 1, 2 * PAGE, VHOST_ACCESS_RW))
BAD(dma_write_read_only, EPERM, "DMA_MAP with write access to a read-only VFIO mapping",
    dma_map(0, IOVA_RO, RO_SIZE, VHOST_ACCESS_RW))

static const struct vfio_vdpa_dma_range one = { IOVA_MEM, PAGE, VHOST_ACCESS_RW, 0 };
static const struct vfio_vdpa_dma_range reserved = { IOVA_MEM, PAGE, VHOST_ACCESS_RW, 1 };

BAD(dma_count_zero, EINVAL, "DMA_MAP of 0 ranges",
    dma_map_raw(sizeof(struct vfio_vdpa_dma_map), 0, 0, 0, &one, 1))
BAD(dma_count_257, E2BIG, "DMA_MAP of 257 ranges",
    dma_map_raw(sizeof(struct vfio_vdpa_dma_map) + 257 * sizeof(one), 0, 0, 257, &one, 1))
BAD(dma_reserved, EINVAL, "DMA_MAP with a reserved field set",
    dma_map_raw(sizeof(struct vfio_vdpa_dma_map) + sizeof(one), 0, 0, 1, &reserved, 1))
BAD(dma_flags, EINVAL, "DMA_MAP with unknown flags",
    dma_map_raw(sizeof(struct vfio_vdpa_dma_map) + sizeof(one), 1, 0, 1, &one, 1))
BAD(dma_short_argsz, EINVAL, "DMA_MAP whose argsz does not cover its range",
    dma_map_raw(sizeof(struct vfio_vdpa_dma_map), 0, 0, 1, &one, 1))

/* All or nothing: a good range and a bad one pin nothing. */
static void dma_partly_bad(void)
{
	const struct vfio_vdpa_dma_range r[2] = {
		{ IOVA_MEM, MEM_SIZE, VHOST_ACCESS_RW, 0 },
		{ IOVA_NONE, PAGE, VHOST_ACCESS_RW, 0 },
	};
	int e = dma_map_raw(sizeof(struct vfio_vdpa_dma_map) + sizeof(r), 0, 0, 2, r, 2);
	long lck = vm_lck();

	ksft_test_result(e == EFAULT && lck == lck_base,
			 "DMA_MAP of a good range and a bad one: %s, VmLck %ld kB (%ld): nothing pinned\n",
			 strerror(e), lck, lck_base);
}

static void dma_good(void)
{
	int e = dma_map(0, IOVA_MEM, MEM_SIZE, VHOST_ACCESS_RW);
	long lck = vm_lck();

	ksft_test_result(!e && lck == lck_base + MEM_SIZE / 1024,
			 "DMA_MAP of the memory (%s), VmLck %ld kB (%ld)\n",
			 e ? strerror(e) : "accepted", lck, lck_base + MEM_SIZE / 1024);
}

static const struct vfio_vdpa_dma_range twice[2] = {
	{ IOVA_RO, PAGE, VHOST_ACCESS_RO, 0 },
	{ IOVA_RO, PAGE, VHOST_ACCESS_RO, 0 },
};

BAD(dma_overlap, EEXIST, "DMA_MAP overlapping a mapped range",
    dma_map(0, IOVA_MEM + PAGE, PAGE, VHOST_ACCESS_RW))
BAD(dma_overlap_in_call, EEXIST, "DMA_MAP of two overlapping ranges",
    dma_map_raw(sizeof(struct vfio_vdpa_dma_map) + sizeof(twice), 0, 0, 2, twice, 2))

/* DMA_UNMAP. */
BAD(unmap_nothing, ENOENT, "DMA_UNMAP where nothing is mapped",
    dma_unmap(0, 0, IOVA_NONE, PAGE, 0))
BAD(unmap_bisect, EINVAL, "DMA_UNMAP of half a range", dma_unmap(0, 0, IOVA_MEM, PAGE, 0))
BAD(unmap_all_range, EINVAL, "DMA_UNMAP_ALL with a range",
    dma_unmap(VFIO_VDPA_DMA_UNMAP_ALL, 0, IOVA_MEM, MEM_SIZE, 0))
BAD(unmap_flags, EINVAL, "DMA_UNMAP with unknown flags", dma_unmap(2, 0, IOVA_MEM, MEM_SIZE, 0))
BAD(unmap_bad_asid, EINVAL, "DMA_UNMAP in address space 7",
    dma_unmap(0, 7, IOVA_MEM, MEM_SIZE, 0))
BAD(unmap_size_zero, EINVAL, "DMA_UNMAP of size 0", dma_unmap(0, 0, IOVA_MEM, 0, 0))
BAD(unmap_reserved, EINVAL, "DMA_UNMAP with the reserved field set",
    dma_unmap(0, 0, IOVA_MEM, MEM_SIZE, 1))

static void unmap_good(void)
{
	int e = dma_unmap(0, 0, IOVA_MEM, MEM_SIZE, 0);
	long lck = vm_lck();

	ksft_test_result(!e && lck == lck_base, "DMA_UNMAP of the memory (%s), VmLck %ld kB (%ld)\n",
			 e ? strerror(e) : "accepted", lck, lck_base);
}

/* SET_IRQS. */
static int efd = -1, closed_fd = -1, null_fd = -1;

BAD(irq_index, EINVAL, "SET_IRQS of index 3",
    set_irqs(IRQ_ARGSZ, TRIGGER_FD, 3, 0, 1, efd))
BAD(irq_req_range, EINVAL, "SET_IRQS of REQ 0 and 1 (of 1)",
    set_irqs(IRQ_ARGSZ + 4, TRIGGER_FD, VFIO_VDPA_REQ_IRQ_INDEX, 0, 2, efd))
BAD(irq_range, EINVAL, "SET_IRQS of queues 2 and 3 (of 3)",
    set_irqs(IRQ_ARGSZ + 4, TRIGGER_FD, VFIO_VDPA_VQ_IRQ_INDEX, 2, 2, efd))
BAD(irq_mask, EINVAL, "SET_IRQS to mask",
    set_irqs(IRQ_ARGSZ, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_MASK,
	     VFIO_VDPA_VQ_IRQ_INDEX, 0, 1, efd))
BAD(irq_two_types, EINVAL, "SET_IRQS with two data types",
    set_irqs(IRQ_ARGSZ, TRIGGER_FD | VFIO_IRQ_SET_DATA_BOOL, VFIO_VDPA_VQ_IRQ_INDEX, 0, 1, efd))
BAD(irq_two_actions, EINVAL, "SET_IRQS with two actions",
    set_irqs(IRQ_ARGSZ, TRIGGER_FD | VFIO_IRQ_SET_ACTION_UNMASK, VFIO_VDPA_VQ_IRQ_INDEX, 0, 1,
	     efd))
BAD(irq_no_action, EINVAL, "SET_IRQS with no action",
    set_irqs(IRQ_ARGSZ, VFIO_IRQ_SET_DATA_EVENTFD, VFIO_VDPA_VQ_IRQ_INDEX, 0, 1, efd))
BAD(irq_short, EINVAL, "SET_IRQS whose argsz does not cover its data",
    set_irqs(sizeof(struct vfio_irq_set), TRIGGER_FD, VFIO_VDPA_VQ_IRQ_INDEX, 0, 1, efd))
BAD(irq_closed_fd, EBADF, "SET_IRQS with a closed file",
    set_irqs(IRQ_ARGSZ, TRIGGER_FD, VFIO_VDPA_VQ_IRQ_INDEX, 0, 1, closed_fd))
BAD(irq_not_eventfd, EINVAL, "SET_IRQS with /dev/null for an eventfd",
    set_irqs(IRQ_ARGSZ, TRIGGER_FD, VFIO_VDPA_VQ_IRQ_INDEX, 0, 1, null_fd))
BAD(irq_bool, EINVAL, "SET_IRQS to signal from the kernel (not offered)",
    set_irqs(sizeof(struct vfio_irq_set) + 1,
	     VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_TRIGGER, VFIO_VDPA_VQ_IRQ_INDEX, 0, 1,
	     0x01010101))
BAD(irq_good, 0, "SET_IRQS of an eventfd on queue 1, CONFIG and REQ, then none",
    set_irqs(IRQ_ARGSZ, TRIGGER_FD, VFIO_VDPA_VQ_IRQ_INDEX, 1, 1, efd) ?:
    set_irqs(IRQ_ARGSZ, TRIGGER_FD, VFIO_VDPA_CONFIG_IRQ_INDEX, 0, 1, efd) ?:
    set_irqs(IRQ_ARGSZ, TRIGGER_FD, VFIO_VDPA_REQ_IRQ_INDEX, 0, 1, efd) ?:
    set_irqs(sizeof(struct vfio_irq_set), VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
	     VFIO_VDPA_VQ_IRQ_INDEX, 0, 0, -1))

/* The NOTIFY and CONFIG regions. */
static int notify_read(void)
{
	uint16_t v;

	return err(pread(d.fd, &v, 2, d.notify_off));
}

BAD(notify_reads, EINVAL, "a read of the NOTIFY region", notify_read())
BAD(notify_3_bytes, EINVAL, "a 3-byte NOTIFY write", notify_write(0, 3))
BAD(notify_8_bytes, EINVAL, "an 8-byte NOTIFY write", notify_write(0, 8))
BAD(notify_no_queue, EINVAL, "a NOTIFY write for queue 3 (of 3)", notify_write(NVQS * PAGE, 2))
BAD(notify_mid_page, EINVAL, "a NOTIFY write at offset 8 of a queue's page",
    notify_write(PAGE + 8, 2))
BAD(mmap_notify, EINVAL, "mmap of the NOTIFY region (no doorbell pages)", mmap_at(d.notify_off))
BAD(mmap_config, EINVAL, "mmap of the CONFIG region", mmap_at(config_off))
BAD(region_other, EINVAL, "a write to region 2",
    err(pwrite(d.fd, "ab", 2, d.notify_off * 2)))

/* The vhost ioctls. */
BAD(addr_log, EOPNOTSUPP, "SET_VRING_ADDR with VHOST_VRING_F_LOG",
    vring_addr(0, 1u << VHOST_VRING_F_LOG, IOVA_MEM, IOVA_MEM + PAGE, IOVA_MEM + 2 * PAGE))
BAD(addr_desc_align, EINVAL, "SET_VRING_ADDR of a descriptor table not 16-byte aligned",
    vring_addr(0, 0, IOVA_MEM + 8, IOVA_MEM + PAGE, IOVA_MEM + 2 * PAGE))
BAD(addr_used_align, EINVAL, "SET_VRING_ADDR of a used ring not 4-byte aligned",
    vring_addr(0, 0, IOVA_MEM, IOVA_MEM + PAGE, IOVA_MEM + 2 * PAGE + 2))
BAD(addr_no_queue, ENOBUFS, "SET_VRING_ADDR of queue 3 (of 3)",
    vring_addr(NVQS, 0, IOVA_MEM, IOVA_MEM + PAGE, IOVA_MEM + 2 * PAGE))
BAD(base_no_queue, ENOBUFS, "SET_VRING_BASE of queue 3", vring_state(VHOST_SET_VRING_BASE, NVQS, 0))
BAD(get_base_no_queue, ENOBUFS, "GET_VRING_BASE of queue 3",
    vring_state(VHOST_GET_VRING_BASE, NVQS, 0))
BAD(enable_no_queue, ENOBUFS, "SET_VRING_ENABLE of queue 3",
    vring_state(VHOST_VDPA_SET_VRING_ENABLE, NVQS, 1))
BAD(group_no_queue, ENOBUFS, "GET_VRING_GROUP of queue 3",
    vring_state(VHOST_VDPA_GET_VRING_GROUP, NVQS, 0))
BAD(size_no_queue, ENOBUFS, "GET_VRING_SIZE of queue 3",
    vring_state(VHOST_VDPA_GET_VRING_SIZE, NVQS, 0))
BAD(asid_bad, EINVAL, "SET_GROUP_ASID to address space 7",
    vring_state(VHOST_VDPA_SET_GROUP_ASID, 0, 7))
BAD(asid_bad_group, EINVAL, "SET_GROUP_ASID of group 9",
    vring_state(VHOST_VDPA_SET_GROUP_ASID, 9, 0))
BAD(backend_unknown, EOPNOTSUPP, "SET_BACKEND_FEATURES with IOTLB_MSG_V2 (not offered)",
    u64_ioctl(VHOST_SET_BACKEND_FEATURES, 1ull << VHOST_BACKEND_F_IOTLB_MSG_V2))
BAD(config_len_zero, EINVAL, "GET_CONFIG of 0 bytes", get_config_raw(0, 0))
BAD(config_past_end, EINVAL, "GET_CONFIG past the end", get_config_raw(4096, 4))
BAD(config_huge, EINVAL, "GET_CONFIG of 4 GiB", get_config_raw(0, ~0u))
BAD(vring_call, ENOTTY, "VHOST_SET_VRING_CALL (calls are VFIO interrupts)",
    vring_state(VHOST_SET_VRING_CALL, 0, -1))
BAD(vring_kick, ENOTTY, "VHOST_SET_VRING_KICK (kicks are the NOTIFY region)",
    vring_state(VHOST_SET_VRING_KICK, 0, -1))
BAD(mem_table, ENOTTY, "VHOST_SET_MEM_TABLE (memory is VFIO's)",
    u64_ioctl(VHOST_SET_MEM_TABLE, 0))
BAD(no_features_ok, EINVAL, "DRIVER_OK without FEATURES_OK",
    status(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_DRIVER_OK))

/* At DRIVER_OK. */
static void driver_ok(void)
{
	uint64_t f = 1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_F_ACCESS_PLATFORM;
	uint8_t s = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;
	int e = status(0) ?: status(s) ?: u64_ioctl(VHOST_SET_FEATURES, f) ?:
		status(s | VIRTIO_CONFIG_S_FEATURES_OK) ?:
		status(s | VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);

	report(e, 0, "the device at DRIVER_OK, no queue enabled");
}

BAD(ok_vring_num, EBUSY, "SET_VRING_NUM at DRIVER_OK", vring_state(VHOST_SET_VRING_NUM, 0, 64))
BAD(ok_vring_addr, EINVAL, "SET_VRING_ADDR at DRIVER_OK",
    vring_addr(0, 0, IOVA_MEM, IOVA_MEM + PAGE, IOVA_MEM + 2 * PAGE))
BAD(ok_vring_base, EINVAL, "SET_VRING_BASE at DRIVER_OK", vring_state(VHOST_SET_VRING_BASE, 0, 5))
BAD(ok_group_asid, EBUSY, "SET_GROUP_ASID at DRIVER_OK",
    vring_state(VHOST_VDPA_SET_GROUP_ASID, 0, 1))
BAD(ok_features, EBUSY, "SET_FEATURES at DRIVER_OK",
    u64_ioctl(VHOST_SET_FEATURES, 1ull << VIRTIO_F_VERSION_1))
BAD(ok_clear_bit, EINVAL, "clearing DRIVER_OK without a reset",
    status(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK))

/* After it all, a reset, and every pinned page is back at the close. */
static void pins_back(void)
{
	int e = status(0);
	long lck;

	dev_close(&d);
	lck = vm_lck();
	ksft_test_result(!e && lck == lck_base, "reset and close: VmLck %ld kB (%ld)\n", lck,
			 lck_base);
}

static const struct vdpa_test tests[] = {
	VDPA_TEST(dma_not_in_vfio),
	VDPA_TEST(dma_user_address),
	VDPA_TEST(dma_size_zero),
	VDPA_TEST(dma_unaligned_iova),
	VDPA_TEST(dma_unaligned_size),
	VDPA_TEST(dma_bad_asid),
	VDPA_TEST(dma_perm_zero),
	VDPA_TEST(dma_perm_unknown),
	VDPA_TEST(dma_wrap),
	VDPA_TEST(dma_write_read_only),
	VDPA_TEST(dma_count_zero),
	VDPA_TEST(dma_count_257),
	VDPA_TEST(dma_reserved),
	VDPA_TEST(dma_flags),
	VDPA_TEST(dma_short_argsz),
	VDPA_TEST(dma_partly_bad),
	VDPA_TEST(dma_good),
	VDPA_TEST(dma_overlap),
	VDPA_TEST(dma_overlap_in_call),
	VDPA_TEST(unmap_nothing),
	VDPA_TEST(unmap_bisect),
	VDPA_TEST(unmap_all_range),
	VDPA_TEST(unmap_flags),
	VDPA_TEST(unmap_bad_asid),
	VDPA_TEST(unmap_size_zero),
	VDPA_TEST(unmap_reserved),
	VDPA_TEST(unmap_good),
	VDPA_TEST(irq_index),
	VDPA_TEST(irq_req_range),
	VDPA_TEST(irq_range),
	VDPA_TEST(irq_mask),
	VDPA_TEST(irq_two_types),
	VDPA_TEST(irq_two_actions),
	VDPA_TEST(irq_no_action),
	VDPA_TEST(irq_short),
	VDPA_TEST(irq_closed_fd),
	VDPA_TEST(irq_not_eventfd),
	VDPA_TEST(irq_bool),
	VDPA_TEST(irq_good),
	VDPA_TEST(notify_reads),
	VDPA_TEST(notify_3_bytes),
	VDPA_TEST(notify_8_bytes),
	VDPA_TEST(notify_no_queue),
	VDPA_TEST(notify_mid_page),
	VDPA_TEST(mmap_notify),
	VDPA_TEST(mmap_config),
	VDPA_TEST(region_other),
	VDPA_TEST(addr_log),
	VDPA_TEST(addr_desc_align),
	VDPA_TEST(addr_used_align),
	VDPA_TEST(addr_no_queue),
	VDPA_TEST(base_no_queue),
	VDPA_TEST(get_base_no_queue),
	VDPA_TEST(enable_no_queue),
	VDPA_TEST(group_no_queue),
	VDPA_TEST(size_no_queue),
	VDPA_TEST(asid_bad),
	VDPA_TEST(asid_bad_group),
	VDPA_TEST(backend_unknown),
	VDPA_TEST(config_len_zero),
	VDPA_TEST(config_past_end),
	VDPA_TEST(config_huge),
	VDPA_TEST(vring_call),
	VDPA_TEST(vring_kick),
	VDPA_TEST(mem_table),
	VDPA_TEST(no_features_ok),
	VDPA_TEST(driver_ok),
	VDPA_TEST(ok_vring_num),
	VDPA_TEST(ok_vring_addr),
	VDPA_TEST(ok_vring_base),
	VDPA_TEST(ok_group_asid),
	VDPA_TEST(ok_features),
	VDPA_TEST(ok_clear_bit),
	VDPA_TEST(pins_back),
};

/* Maps size bytes of fresh locked memory into the container at iova. */
static uint8_t *container_map(uint64_t iova, size_t size, uint32_t flags)
{
	uint8_t *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map), .flags = flags, .iova = iova, .size = size,
	};

	if (m == MAP_FAILED || mlock(m, size))
		return NULL;
	map.vaddr = (uintptr_t)m;
	return ioctl(d.container, VFIO_IOMMU_MAP_DMA, &map) ? NULL : m;
}

int main(int argc, char **argv)
{
	struct vfio_region_info ri = { .argsz = sizeof(ri), .index = VFIO_VDPA_CONFIG_REGION_INDEX };
	char path[64];
	int r;

	if (argc != 2) {
		fprintf(stderr, "usage: %s UUID | --plan\n", argv[0]);
		return 2;
	}
	vdpa_tests_begin(tests, 1, argv[1]);
	snprintf(path, sizeof(path), "vfio:%s", argv[1]);
	r = dev_open(&d, path, 0);
	if (r)
		ksft_exit_fail_msg("opening %s: %s\n", path, strerror(-r));
	mem = container_map(IOVA_MEM, MEM_SIZE, VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE);
	ro = container_map(IOVA_RO, RO_SIZE, VFIO_DMA_MAP_FLAG_READ);
	if (!mem || !ro || ioctl(d.fd, VFIO_DEVICE_GET_REGION_INFO, &ri))
		ksft_exit_fail_perror("memory and regions");
	config_off = ri.offset;
	efd = eventfd(0, EFD_NONBLOCK);
	null_fd = open("/dev/null", O_RDWR);
	/* A descriptor no file is open at. */
	for (closed_fd = 1000; fcntl(closed_fd, F_GETFD) >= 0; closed_fd++)
		;
	if (efd < 0 || null_fd < 0)
		ksft_exit_fail_perror("files");
	if (d.nvqs != NVQS)
		ksft_exit_fail_msg("the device has %u queues, not %d\n", d.nvqs, NVQS);
	lck_base = vm_lck();
	vdpa_tests_run(tests, 1);
	ksft_finished();
}
