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
 * (EBUSY after FEATURES_OK), VHOST_SET_OWNER (accepted, no effect),
 * VHOST_VDPA_GET_DEVICE_ID, VHOST_VDPA_GET_STATUS, VHOST_VDPA_SET_STATUS
 * (EINVAL for clearing a bit other than by writing 0, and for DRIVER_OK
 * without FEATURES_OK; 0 resets), VHOST_VDPA_GET_CONFIG_SIZE,
 * VHOST_VDPA_GET_VQS_COUNT, VHOST_VDPA_GET_VRING_NUM, VHOST_SET_VRING_NUM
 * (ENOBUFS for a queue the device lacks; EINVAL for 0, a size that is not a
 * power of two or above the maximum; EBUSY at DRIVER_OK). Any other ioctl of
 * the vhost type fails with ENOTTY. VFIO_DEVICE_RESET is a reset.
 *
 * The device is reset when it is first opened and when it is last closed,
 * and then reaches no memory at all until it is given mappings.
 *
 * Implemented so far: the control path and the CONFIG region
 * (VFIO_DEVICE_GET_INFO reports 1 region and no interrupts). The NOTIFY
 * region, the interrupts and DMA mappings are reserved below and come next.
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
	/* Reserved: the queues' doorbells. */
	VFIO_VDPA_NOTIFY_REGION_INDEX,
	VFIO_VDPA_NUM_REGIONS
};

/* Interrupts (reserved: eventfd triggers through VFIO_DEVICE_SET_IRQS). */
enum {
	VFIO_VDPA_VQ_IRQ_INDEX,		/* count = number of virtqueues */
	VFIO_VDPA_CONFIG_IRQ_INDEX,	/* count = 1: config change */
	VFIO_VDPA_REQ_IRQ_INDEX,	/* count = 1: the device is being removed */
	VFIO_VDPA_NUM_IRQS
};

#endif /* _UAPI_LINUX_VFIO_VDPA_H */
