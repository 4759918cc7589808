/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * VFIO vDPA devices: a vDPA device (virtio data path, vendor control path)
 * as a VFIO mediated device, made by the vfio_vdpa driver.
 *
 * Binding a vDPA device to vfio_vdpa (driver_override) makes it an mdev
 * parent with one type for its device class (vfio_vdpa-net, vfio_vdpa-blk,
 * vfio_vdpa-virtio-<id>); writing a UUID to the type's "create" makes the
 * VFIO device, opened through a VFIO container or iommufd.
 *
 * Control: the vhost-vdpa ioctls of <linux/vhost.h> on the VFIO device fd,
 * with vhost-vdpa's semantics: VHOST_GET_FEATURES, VHOST_SET_FEATURES
 * (EBUSY after FEATURES_OK), VHOST_GET_BACKEND_FEATURES (IOTLB_PERSIST, and
 * SUSPEND and RESUME where the parent can), VHOST_SET_BACKEND_FEATURES
 * (EOPNOTSUPP for any other bit), VHOST_VDPA_SUSPEND and VHOST_VDPA_RESUME,
 * VHOST_SET_OWNER (accepted, no effect), VHOST_VDPA_GET_DEVICE_ID,
 * VHOST_VDPA_GET_STATUS, VHOST_VDPA_SET_STATUS (EINVAL for clearing a bit
 * other than by writing 0, and for DRIVER_OK without FEATURES_OK; 0
 * resets), VHOST_VDPA_GET_CONFIG/SET_CONFIG, VHOST_VDPA_GET_CONFIG_SIZE,
 * VHOST_VDPA_GET_VQS_COUNT, VHOST_VDPA_GET_GROUP_NUM, VHOST_VDPA_GET_AS_NUM,
 * VHOST_VDPA_GET_IOVA_RANGE, VHOST_VDPA_GET_VRING_NUM; and per queue (ENOBUFS
 * for a queue the device lacks): VHOST_SET_VRING_NUM (EINVAL for 0, a size
 * that is not a power of two or above the maximum; EBUSY at DRIVER_OK),
 * VHOST_SET_VRING_ADDR (IOVAs; EOPNOTSUPP with VHOST_VRING_F_LOG; EINVAL
 * when misaligned or at DRIVER_OK unless suspended), VHOST_SET_VRING_BASE (EINVAL at
 * DRIVER_OK unless suspended) and VHOST_GET_VRING_BASE (split rings), VHOST_VDPA_SET_VRING_ENABLE,
 * VHOST_VDPA_GET_VRING_GROUP, VHOST_VDPA_GET_VRING_SIZE; and
 * VHOST_VDPA_SET_GROUP_ASID (EINVAL for a group or address space the device
 * lacks, EBUSY at DRIVER_OK). Any other ioctl of the vhost type fails with
 * ENOTTY, among them VHOST_SET_VRING_KICK and VHOST_SET_VRING_CALL: kicks
 * are writes to the NOTIFY region, calls are VFIO interrupts.
 * VFIO_DEVICE_RESET is a reset.
 *
 * Departures from vhost-vdpa: DRIVER_OK without FEATURES_OK is refused (the
 * virtio spec forbids it); mappings persist across resets (they are the VFIO
 * user's, like a container's); call eventfds persist across resets too.
 *
 * The device is reset when it is first opened and when it is last closed,
 * and reaches no memory at all until it is given mappings: at the last close
 * every page it was given is unpinned.
 */
#ifndef _UAPI_LINUX_VFIO_VDPA_H
#define _UAPI_LINUX_VFIO_VDPA_H

#include <linux/types.h>
#include <linux/vfio.h>
#include <linux/vhost.h>

/* vfio_device_info.flags of a vfio-vdpa device (next to VFIO_DEVICE_FLAGS_*). */
#define VFIO_DEVICE_FLAGS_VDPA		(1 << 9)
/* The device_api attribute of its mdev types. */
#define VFIO_DEVICE_API_VDPA_STRING	"vfio-vdpa"

/* Regions (VFIO_DEVICE_GET_REGION_INFO gives their offsets and sizes). */
enum {
	/*
	 * The virtio device config space: read and written with pread and
	 * pwrite of 1 to its size bytes at any offset inside it; an access
	 * that does not lie inside it fails with EINVAL.
	 */
	VFIO_VDPA_CONFIG_REGION_INDEX,
	/*
	 * The queues' doorbells: one host page per virtqueue, queue q's at
	 * q * page size. A 2- or 4-byte write at the start of queue q's page
	 * kicks it (the value is not used); any other read or write fails
	 * with EINVAL.
	 *
	 * Where the parent has a doorbell page of its own for a queue (a PCI
	 * function's notify area with a page per queue), that page can be
	 * mapped instead, so that a kick never enters the kernel: the region
	 * then has VFIO_REGION_INFO_FLAG_MMAP, and, unless every queue has a
	 * page, a VFIO_REGION_INFO_CAP_SPARSE_MMAP capability listing the
	 * pages that can be. mmap: MAP_SHARED and PROT_WRITE only (EINVAL for
	 * MAP_PRIVATE, PROT_READ or PROT_EXEC; with a device fd from a group,
	 * whose file system is noexec, the mm core refuses PROT_EXEC first,
	 * EPERM), every page of it a queue's doorbell (EINVAL). A
	 * store of the queue index (or of the notification data, with
	 * VIRTIO_F_NOTIFICATION_DATA) kicks the queue, as virtio-pci says.
	 * When the device is removed while mapped, the pages go: a later
	 * access raises SIGBUS.
	 */
	VFIO_VDPA_NOTIFY_REGION_INDEX,
	VFIO_VDPA_NUM_REGIONS
};

/*
 * Interrupts: eventfd triggers through VFIO_DEVICE_SET_IRQS
 * (VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER; fd -1 removes
 * one; VFIO_IRQ_SET_DATA_NONE with count 0 removes all of an index). MASK,
 * UNMASK and signalling from the kernel are not offered (EINVAL).
 *
 * While the device is at DRIVER_OK, a queue's eventfd is also an IRQ bypass
 * producer for the queue's own interrupt, where the parent has one (a PCI
 * function's MSI-X vector): KVM's irqfd on the same eventfd can then post
 * the interrupt to the vCPU directly, as with vhost-vdpa. It is withdrawn
 * when the eventfd is removed or replaced, and at a reset.
 */
enum {
	VFIO_VDPA_VQ_IRQ_INDEX,		/* count = number of virtqueues */
	VFIO_VDPA_CONFIG_IRQ_INDEX,	/* count = 1: config change */
	/*
	 * count = 1: the device is being removed while open (it is stopped,
	 * its pages unpinned, and every request fails with ENODEV): close it.
	 */
	VFIO_VDPA_REQ_IRQ_INDEX,
	VFIO_VDPA_NUM_IRQS
};

/*
 * DMA. The device reaches memory through IOVAs of the VFIO container or IOAS
 * it is attached to, and only those its user gives it with VFIO_VDPA_DMA_MAP,
 * per vDPA address space: the ranges are pinned (and charged as VFIO charges
 * pins) until VFIO_VDPA_DMA_UNMAP, until they leave the container or IOAS,
 * or until the last close.
 */
struct vfio_vdpa_dma_range {
	__aligned_u64	iova;		/* page aligned */
	__aligned_u64	size;		/* page aligned, not 0 */
	__u32		perm;		/* VHOST_ACCESS_RO, _WO or _RW */
	__u32		reserved;	/* 0 */
};

/*
 * All ranges or none. Errors: EINVAL (flags, reserved, count 0, argsz too
 * short, asid the device lacks, a size of 0, misalignment, perm), E2BIG
 * (count above VFIO_VDPA_DMA_MAX_RANGES), EOVERFLOW (a range that wraps),
 * ERANGE (outside VHOST_VDPA_GET_IOVA_RANGE), EEXIST (overlapping a range of
 * the same address space, or another of the call), ENOSPC (too many ranges
 * on the device), EFAULT (IOVAs the container or IOAS does not map), EPERM
 * (write access to a read-only mapping), or the locked-memory limit's error.
 */
struct vfio_vdpa_dma_map {
	__u32	argsz;			/* sizeof(*this) + count * sizeof(range) */
	__u32	flags;			/* 0 */
	__u32	asid;
	__u32	count;			/* 1..VFIO_VDPA_DMA_MAX_RANGES */
	struct vfio_vdpa_dma_range ranges[];
};
#define VFIO_VDPA_DMA_MAX_RANGES	256

/*
 * Removes whole ranges of @asid that lie in [iova, iova + size): EINVAL if
 * one of them only partly does, ENOENT if there is none. With
 * VFIO_VDPA_DMA_UNMAP_ALL (iova and size 0), every range of @asid.
 */
struct vfio_vdpa_dma_unmap {
	__u32	argsz;
	__u32	flags;
#define VFIO_VDPA_DMA_UNMAP_ALL	(1 << 0)
	__u32	asid;
	__u32	reserved;		/* 0 */
	__aligned_u64	iova;
	__aligned_u64	size;
};

#define VFIO_VDPA_DMA_MAP	_IOW(VHOST_VIRTIO, 0xA0, struct vfio_vdpa_dma_map)
#define VFIO_VDPA_DMA_UNMAP	_IOW(VHOST_VIRTIO, 0xA1, struct vfio_vdpa_dma_unmap)

#endif /* _UAPI_LINUX_VFIO_VDPA_H */
