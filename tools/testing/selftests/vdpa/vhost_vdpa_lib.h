/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vhost_vdpa_lib: the userspace vhost-vdpa driver the vhost_vdpa_* kselftests
 * share. It opens /dev/vhost-vdpa-N, maps memory regions into the device's
 * address spaces with IOTLB v2 messages, lays split virtqueues out in them,
 * takes the device from reset to DRIVER_OK (groups moved to other address
 * spaces on the way), posts descriptor chains and waits for used entries.
 * The programs report through kselftest.h, their tests a table (vdpa_test.h).
 *
 * The same driver runs a vfio_vdpa mdev (include/uapi/linux/vfio_vdpa.h):
 * a path "vfio:UUID" opens the mdev through a type1 container, as a VMM
 * does, and "iommufd:UUID" through its cdev and an iommufd IOAS. The vhost ioctls are the same on the VFIO device fd; what differs is
 * in this library: a region is mapped into the container at its IOVA (once)
 * and VFIO_VDPA_DMA_MAP gives it to an address space of the device; calls
 * are set with VFIO_DEVICE_SET_IRQS; a kick is a write to the queue's page
 * of the NOTIFY region.
 *
 * Each region is an anonymous, locked mapping of the program's memory seen by
 * the device at one IOVA in one address space (ASID). A queue's ring takes
 * RING_PAGES pages of one region. The device reaches the rings and buffers
 * through IOVAs only (VIRTIO_F_ACCESS_PLATFORM).
 */
#ifndef VHOST_VDPA_LIB_H
#define VHOST_VDPA_LIB_H

#include <linux/vhost.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <stddef.h>
#include <stdint.h>

#include "vdpa_test.h"

/* Entries per virtqueue, at most: fewer when the device's queue is smaller. */
#define QSIZE 256
/* Pages of a ring: descriptor table, avail ring, used ring, one page each. */
#define RING_PAGES 3
#define PAGE 4096
#define MAX_QUEUES 4
#define MAX_REGIONS 4
#define MAX_GROUPS 4

struct region {
	uint8_t *mem;
	size_t size;
	uint64_t iova;
	uint32_t asid;
};

struct ring {
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t avail_idx, last_used;
	/* Entries: QSIZE, or the device's queue size when that is smaller. */
	uint16_t num;
	int kick, call;
	/*
	 * The queue's doorbell mapped from the device (see map_doorbell()):
	 * when set, a kick is written there instead of to the kick eventfd.
	 */
	volatile uint16_t *doorbell;
	/* Where the ring lives: a region and an offset in it. */
	int region;
	size_t off;
};

struct dev {
	int fd;
	/*
	 * A vfio_vdpa mdev: its group and container (type1), or the iommufd
	 * in container and its IOAS; the NOTIFY region's offset.
	 */
	int vfio, iommufd, group, container;
	uint32_t ioas;
	uint64_t notify_off;
	/* One bit per region mapped into the container. */
	uint32_t in_container;
	/* What the device reports: its virtio id and number of queues. */
	uint32_t id, nvqs;
	/* The queues the driver sets up (at most nvqs). */
	int nq;
	struct ring rings[MAX_QUEUES];
	struct region regions[MAX_REGIONS];
	int nregions;
	/* The address space each group is put in at setup (0 by default). */
	uint32_t group_asid[MAX_GROUPS];
	/* One bit per ASID that may hold mappings, to clear at the next setup. */
	uint32_t mapped_asids;
	/* The features setup negotiates. */
	uint64_t features;
	/*
	 * For tests of a driver that breaks the rules: setup sets DRIVER_OK
	 * without FEATURES_OK.
	 */
	int no_features_ok;
};

/*
 * Opens the device, becomes its owner, reads its id, queue count and queue
 * sizes, and makes the kick and call eventfds of nq queues. Returns 0 or a
 * negative errno; d->fd is negative when the device could not be opened.
 */
int dev_open(struct dev *d, const char *path, int nq);
/* Closes the device (and its group and container, or its iommufd). */
void dev_close(struct dev *d);
/*
 * Removes [iova, iova + size) from the mdev's container or IOAS (which takes
 * it out of the device's reach); 0 or a negative errno.
 */
int container_unmap(struct dev *d, uint64_t iova, uint64_t size);

/* Keeps the backend features of want the device has; 0 or a negative errno. */
int negotiate_backend(struct dev *d, uint64_t want, uint64_t *got);
int get_config(struct dev *d, uint32_t off, void *buf, uint32_t len);
/*
 * Adds a region of size bytes (locked in memory) seen at iova in address
 * space asid, and returns its memory; NULL (errno set) when it cannot.
 */
uint8_t *add_region(struct dev *d, size_t size, uint64_t iova, uint32_t asid);
/* Puts queue q's ring at offset off of region reg. */
void place_ring(struct dev *d, int q, int reg, size_t off);
/* The IOVA of a pointer into a region (0 when it is in none). */
uint64_t iova(struct dev *d, const void *p);
/* Sends one IOTLB v2 message; returns 0 or a negative errno. */
int iotlb(struct dev *d, uint8_t type, uint32_t asid, uint64_t io, uint64_t size,
	  uint64_t uaddr);
int set_status(struct dev *d, uint8_t s);
/*
 * Sets queue q up (size, ring addresses as IOVAs, base 0, kick and call,
 * enabled); 0 or a negative errno.
 */
int set_vring(struct dev *d, int q, uint64_t desc, uint64_t avail, uint64_t used);
/* Sets queue q's call eventfd (-1: none): VHOST_SET_VRING_CALL, or SET_IRQS through the bridge. */
int set_call(struct dev *d, int q, int fd);
/* Kicks queue q: its doorbell, the kick eventfd, or the NOTIFY region. */
void kick(struct dev *d, int q);
/*
 * Full setup, from reset to DRIVER_OK: clears the regions and the old
 * mappings, maps every region, negotiates d->features, moves the groups to
 * their address spaces and sets up the queues. Returns 0 or a negative errno.
 */
int setup(struct dev *d);
/*
 * Maps queue q's doorbell (the page at offset q * PAGE of the device file,
 * write-only and shared) and kicks the queue there from then on. Returns 0
 * or a negative errno; unmap_doorbell() goes back to the kick eventfd.
 */
int map_doorbell(struct dev *d, int q);
void unmap_doorbell(struct dev *d, int q);
/* Posts one buffer as a one-descriptor chain in the next slot and kicks. */
void post(struct dev *d, int q, void *p, uint32_t len, int writable);
/*
 * Posts a chain of n descriptors written as given from slot head on (next
 * fields relative to the first one) and kicks.
 */
void post_chain(struct dev *d, int q, uint16_t head, const struct vring_desc *descs, int n);
/* Waits for the next used entry of a queue; returns its length or -1. */
int wait_used(struct dev *d, int q, int timeout_ms, uint16_t *id);

#endif
