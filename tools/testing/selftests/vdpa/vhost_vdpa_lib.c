// SPDX-License-Identifier: GPL-2.0
/*
 * vhost_vdpa_lib: the userspace vhost-vdpa driver shared by the vhost_vdpa_*
 * kselftests. See vhost_vdpa_lib.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <dirent.h>
#include <linux/iommufd.h>
#include <linux/vfio.h>
#include <linux/vfio_vdpa.h>

#include "vhost_vdpa_lib.h"

/*
 * Opens the mdev uuid through a type1 container: d->fd is its device fd.
 * Returns 0 or a negative errno.
 */
static int vfio_open(struct dev *d, const char *uuid)
{
	struct vfio_group_status gs = { .argsz = sizeof(gs) };
	struct vfio_region_info ri = { .argsz = sizeof(ri), .index = VFIO_VDPA_NOTIFY_REGION_INDEX };
	char link[256], path[320], *n;
	ssize_t len;

	d->vfio = 1;
	d->in_container = 0;
	d->group = d->container = d->fd = -1;
	snprintf(path, sizeof(path), "/sys/bus/mdev/devices/%s/iommu_group", uuid);
	len = readlink(path, link, sizeof(link) - 1);
	if (len < 0)
		return -errno;
	link[len] = 0;
	n = strrchr(link, '/');
	snprintf(path, sizeof(path), "/dev/vfio/%s", n ? n + 1 : link);
	d->container = open("/dev/vfio/vfio", O_RDWR);
	d->group = open(path, O_RDWR);
	if (d->container < 0 || d->group < 0)
		return -errno;
	if (ioctl(d->group, VFIO_GROUP_GET_STATUS, &gs))
		return -errno;
	if (!(gs.flags & VFIO_GROUP_FLAGS_VIABLE))
		return -EPERM;
	if (ioctl(d->group, VFIO_GROUP_SET_CONTAINER, &d->container) ||
	    ioctl(d->container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU))
		return -errno;
	d->fd = ioctl(d->group, VFIO_GROUP_GET_DEVICE_FD, uuid);
	if (d->fd < 0)
		return -errno;
	if (ioctl(d->fd, VFIO_DEVICE_GET_REGION_INFO, &ri))
		return -errno;
	d->notify_off = ri.offset;
	return 0;
}

/*
 * Opens the mdev uuid through its cdev and iommufd: d->fd is the device,
 * d->container the iommufd, d->ioas the IOAS it is attached to. Returns 0
 * or a negative errno.
 */
static int iommufd_open(struct dev *d, const char *uuid)
{
	struct vfio_region_info ri = { .argsz = sizeof(ri), .index = VFIO_VDPA_NOTIFY_REGION_INDEX };
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct vfio_device_attach_iommufd_pt at = { .argsz = sizeof(at) };
	char path[320];
	struct dirent *e;
	DIR *dir;

	d->vfio = d->iommufd = 1;
	d->in_container = 0;
	d->group = d->container = d->fd = -1;
	snprintf(path, sizeof(path), "/sys/bus/mdev/devices/%s/vfio-dev", uuid);
	dir = opendir(path);
	if (!dir)
		return -errno;
	while ((e = readdir(dir)) && strncmp(e->d_name, "vfio", 4))
		;
	if (e)
		snprintf(path, sizeof(path), "/dev/vfio/devices/%s", e->d_name);
	closedir(dir);
	if (!e)
		return -ENOENT;
	d->fd = open(path, O_RDWR);
	d->container = open("/dev/iommu", O_RDWR);
	if (d->fd < 0 || d->container < 0)
		return -errno;
	bind.iommufd = d->container;
	if (ioctl(d->container, IOMMU_IOAS_ALLOC, &alloc) ||
	    ioctl(d->fd, VFIO_DEVICE_BIND_IOMMUFD, &bind))
		return -errno;
	d->ioas = at.pt_id = alloc.out_ioas_id;
	if (ioctl(d->fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at) ||
	    ioctl(d->fd, VFIO_DEVICE_GET_REGION_INFO, &ri))
		return -errno;
	d->notify_off = ri.offset;
	return 0;
}

int container_unmap(struct dev *d, uint64_t iova, uint64_t size)
{
	struct vfio_iommu_type1_dma_unmap un = { .argsz = sizeof(un), .iova = iova, .size = size };
	struct iommu_ioas_unmap iun = {
		.size = sizeof(iun), .ioas_id = d->ioas, .iova = iova, .length = size,
	};
	int i, r;

	if (d->iommufd)
		r = ioctl(d->container, IOMMU_IOAS_UNMAP, &iun) ? -errno : 0;
	else
		r = ioctl(d->container, VFIO_IOMMU_UNMAP_DMA, &un) ? -errno : 0;
	for (i = 0; !r && i < d->nregions; i++)
		if (d->regions[i].iova >= iova && d->regions[i].iova - iova < size)
			d->in_container &= ~(1u << i);
	return r;
}

void dev_close(struct dev *d)
{
	close(d->fd);
	d->fd = -1;
	if (d->vfio) {
		if (!d->iommufd)
			close(d->group);
		close(d->container);
		d->in_container = 0;
	}
}

int dev_open(struct dev *d, const char *path, int nq)
{
	int q;

	if (nq > MAX_QUEUES)
		return -EINVAL;
	d->nq = nq;
	d->vfio = d->iommufd = 0;
	if (!strncmp(path, "vfio:", 5) || !strncmp(path, "iommufd:", 8)) {
		q = path[0] == 'v' ? vfio_open(d, path + 5) : iommufd_open(d, path + 8);
		if (q)
			return q;
	} else {
		d->fd = open(path, O_RDWR);
	}
	if (d->fd < 0)
		return -errno;
	for (q = 0; q < nq; q++) {
		d->rings[q].kick = eventfd(0, EFD_NONBLOCK);
		d->rings[q].call = eventfd(0, EFD_NONBLOCK);
		if (d->rings[q].kick < 0 || d->rings[q].call < 0)
			return -errno;
	}
	if (ioctl(d->fd, VHOST_SET_OWNER) || ioctl(d->fd, VHOST_VDPA_GET_DEVICE_ID, &d->id) ||
	    ioctl(d->fd, VHOST_VDPA_GET_VQS_COUNT, &d->nvqs))
		return -errno;
	/*
	 * A queue may be smaller than QSIZE (a virtio-net function's control
	 * queue often has 64 entries): the driver must not ask for more.
	 */
	for (q = 0; q < nq; q++) {
		struct vhost_vring_state s = { q, 0 };

		d->rings[q].num = QSIZE;
		if (!ioctl(d->fd, VHOST_VDPA_GET_VRING_SIZE, &s) && s.num && s.num < QSIZE)
			d->rings[q].num = s.num;
	}
	return 0;
}

int negotiate_backend(struct dev *d, uint64_t want, uint64_t *got)
{
	if (ioctl(d->fd, VHOST_GET_BACKEND_FEATURES, got))
		return -errno;
	*got &= want;
	return ioctl(d->fd, VHOST_SET_BACKEND_FEATURES, got) ? -errno : 0;
}

int get_config(struct dev *d, uint32_t off, void *buf, uint32_t len)
{
	struct vhost_vdpa_config *c = calloc(1, sizeof(*c) + len);
	int r;

	if (!c)
		return -ENOMEM;
	c->off = off;
	c->len = len;
	r = ioctl(d->fd, VHOST_VDPA_GET_CONFIG, c) ? -errno : 0;
	memcpy(buf, c->buf, len);
	free(c);
	return r;
}

uint8_t *add_region(struct dev *d, size_t size, uint64_t io, uint32_t asid)
{
	struct region *reg = &d->regions[d->nregions];
	void *m;

	if (d->nregions == MAX_REGIONS) {
		errno = ENOSPC;
		return NULL;
	}
	m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	if (mlock(m, size)) {
		munmap(m, size);
		return NULL;
	}
	*reg = (struct region){ .mem = m, .size = size, .iova = io, .asid = asid };
	d->nregions++;
	return m;
}

void place_ring(struct dev *d, int q, int reg, size_t off)
{
	d->rings[q].region = reg;
	d->rings[q].off = off;
}

uint64_t iova(struct dev *d, const void *p)
{
	int i;

	for (i = 0; i < d->nregions; i++) {
		struct region *reg = &d->regions[i];

		if ((const uint8_t *)p >= reg->mem && (const uint8_t *)p < reg->mem + reg->size)
			return reg->iova + ((const uint8_t *)p - reg->mem);
	}
	return 0;
}

/*
 * The region whose own mapping [io, io + size) -> uaddr is part of, or -1:
 * the container maps each region at its IOVA, once; a mapping that is not a
 * region's own is mapped as given (and stays until the container closes).
 */
static int region_of(struct dev *d, uint64_t io, uint64_t size, uint64_t uaddr)
{
	int i;

	for (i = 0; i < d->nregions; i++) {
		struct region *reg = &d->regions[i];

		if (uaddr >= (uintptr_t)reg->mem && uaddr - (uintptr_t)reg->mem == io - reg->iova &&
		    io >= reg->iova && size <= reg->size - (io - reg->iova))
			return i;
	}
	return -1;
}

/* Maps [io, io + size) -> uaddr into the type1 container or the IOAS. */
static int container_map(struct dev *d, uint64_t io, uint64_t size, uint64_t uaddr)
{
	struct vfio_iommu_type1_dma_map m = {
		.argsz = sizeof(m),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = uaddr,
		.iova = io,
		.size = size,
	};
	struct iommu_ioas_map im = {
		.size = sizeof(im),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
			 IOMMU_IOAS_MAP_WRITEABLE,
		.ioas_id = d->ioas,
		.user_va = uaddr,
		.length = size,
		.iova = io,
	};

	if (d->iommufd)
		return ioctl(d->container, IOMMU_IOAS_MAP, &im) ? -errno : 0;
	return ioctl(d->container, VFIO_IOMMU_MAP_DMA, &m) ? -errno : 0;
}

/* Gives the container what the device is to reach: a region's whole mapping, once. */
static int vfio_container_map(struct dev *d, uint64_t io, uint64_t size, uint64_t uaddr)
{
	int i = region_of(d, io, size, uaddr), r;

	if (i < 0)
		return container_map(d, io, size, uaddr);
	if (d->in_container & (1u << i))
		return 0;
	r = container_map(d, d->regions[i].iova, d->regions[i].size,
			  (uintptr_t)d->regions[i].mem);
	if (!r)
		d->in_container |= 1u << i;
	return r;
}

/* An IOTLB message as VFIO_VDPA_DMA_MAP or _UNMAP. */
static int vfio_iotlb(struct dev *d, uint8_t type, uint32_t asid, uint64_t io, uint64_t size,
		      uint64_t uaddr)
{
	struct {
		struct vfio_vdpa_dma_map m;
		struct vfio_vdpa_dma_range r;
	} map = {
		.m = { .argsz = sizeof(map), .asid = asid, .count = 1 },
		.r = { .iova = io, .size = size, .perm = VHOST_ACCESS_RW },
	};
	struct vfio_vdpa_dma_unmap un = {
		.argsz = sizeof(un), .asid = asid, .iova = io, .size = size,
	};
	int r;

	if (type != VHOST_IOTLB_UPDATE) {
		if (!io && size == ~0ull) {
			un.flags = VFIO_VDPA_DMA_UNMAP_ALL;
			un.iova = un.size = 0;
		}
		return ioctl(d->fd, VFIO_VDPA_DMA_UNMAP, &un) ? -errno : 0;
	}
	r = vfio_container_map(d, io, size, uaddr);
	if (r)
		return r;
	return ioctl(d->fd, VFIO_VDPA_DMA_MAP, &map) ? -errno : 0;
}

int iotlb(struct dev *d, uint8_t type, uint32_t asid, uint64_t io, uint64_t size,
	  uint64_t uaddr)
{
	struct vhost_msg_v2 msg = {
		.type = VHOST_IOTLB_MSG_V2,
		.asid = asid,
		.iotlb = {
			.iova = io,
			.size = size,
			.uaddr = uaddr,
			.perm = VHOST_ACCESS_RW,
			.type = type,
		},
	};

	if (d->vfio) {
		int r = vfio_iotlb(d, type, asid, io, size, uaddr);

		if (r)
			return r;
	} else if (write(d->fd, &msg, sizeof(msg)) != sizeof(msg)) {
		return -errno;
	}
	if (type == VHOST_IOTLB_UPDATE && asid < 32)
		d->mapped_asids |= 1u << asid;
	return 0;
}

int set_status(struct dev *d, uint8_t s)
{
	return ioctl(d->fd, VHOST_VDPA_SET_STATUS, &s) ? -errno : 0;
}

/* Clears the regions and lays the rings out where they were placed. */
static void layout(struct dev *d)
{
	int i;

	for (i = 0; i < d->nregions; i++)
		memset(d->regions[i].mem, 0, d->regions[i].size);
	for (i = 0; i < d->nq; i++) {
		struct ring *r = &d->rings[i];
		uint8_t *base = d->regions[r->region].mem + r->off;

		r->desc = (void *)base;
		r->avail = (void *)(base + PAGE);
		r->used = (void *)(base + 2 * PAGE);
		r->avail_idx = r->last_used = 0;
	}
}

/*
 * Without VHOST_BACKEND_F_IOTLB_PERSIST a reset restores the device's default
 * mappings while vhost-vdpa keeps its own: drop those of every address space
 * used so far and map the regions again, as a VMM does.
 */
static int map_regions(struct dev *d)
{
	uint32_t asids = d->mapped_asids;
	int i, r;

	d->mapped_asids = 0;
	for (i = 0; i < 32; i++)
		if (asids & (1u << i))
			iotlb(d, VHOST_IOTLB_INVALIDATE, i, 0, ~0ull, 0);
	for (i = 0; i < d->nregions; i++) {
		struct region *reg = &d->regions[i];

		r = iotlb(d, VHOST_IOTLB_UPDATE, reg->asid, reg->iova, reg->size,
			  (uintptr_t)reg->mem);
		if (r)
			return r;
	}
	return 0;
}

/* Queue q's call eventfd, through VFIO_DEVICE_SET_IRQS. */
static int vfio_set_call(struct dev *d, int q, int fd)
{
	struct {
		struct vfio_irq_set s;
		int32_t fd;
	} set = {
		.s = {
			.argsz = sizeof(set),
			.flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
			.index = VFIO_VDPA_VQ_IRQ_INDEX,
			.start = q,
			.count = 1,
		},
		.fd = fd,
	};

	return ioctl(d->fd, VFIO_DEVICE_SET_IRQS, &set) ? -errno : 0;
}

int set_call(struct dev *d, int q, int fd)
{
	struct vhost_vring_file call = { q, fd };

	if (d->vfio)
		return vfio_set_call(d, q, fd);
	return ioctl(d->fd, VHOST_SET_VRING_CALL, &call) ? -errno : 0;
}

int set_vring(struct dev *d, int q, uint64_t desc, uint64_t avail, uint64_t used)
{
	struct ring *rg = &d->rings[q];
	struct vhost_vring_state num = { q, rg->num }, base = { q, 0 }, en = { q, 1 };
	struct vhost_vring_addr addr = {
		.index = q,
		.desc_user_addr = desc,
		.avail_user_addr = avail,
		.used_user_addr = used,
	};
	struct vhost_vring_file kick = { q, rg->kick };
	int r;

	if (ioctl(d->fd, VHOST_SET_VRING_NUM, &num) || ioctl(d->fd, VHOST_SET_VRING_ADDR, &addr) ||
	    ioctl(d->fd, VHOST_SET_VRING_BASE, &base))
		return -errno;
	/* Through the bridge, kicks are NOTIFY writes: no kick eventfd. */
	if (!d->vfio && ioctl(d->fd, VHOST_SET_VRING_KICK, &kick))
		return -errno;
	r = set_call(d, q, rg->call);
	if (r)
		return r;
	return ioctl(d->fd, VHOST_VDPA_SET_VRING_ENABLE, &en) ? -errno : 0;
}

static int setup_queue(struct dev *d, int q)
{
	struct ring *rg = &d->rings[q];

	return set_vring(d, q, iova(d, rg->desc), iova(d, rg->avail), iova(d, rg->used));
}

int setup(struct dev *d)
{
	uint8_t st = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;
	unsigned int g;
	int q, r;

	/*
	 * The reset first: a running device may still write the rings (a used
	 * index) until it is reset, and must not do so after they are cleared.
	 */
	if ((r = set_status(d, 0)))
		return r;
	layout(d);
	if ((r = map_regions(d)) || (r = set_status(d, st)))
		return r;
	if (ioctl(d->fd, VHOST_SET_FEATURES, &d->features))
		return -errno;
	if (!d->no_features_ok) {
		st |= VIRTIO_CONFIG_S_FEATURES_OK;
		if ((r = set_status(d, st)))
			return r;
	}
	/* A reset puts every group back in address space 0. */
	for (g = 0; g < MAX_GROUPS; g++) {
		struct vhost_vring_state s = { g, d->group_asid[g] };

		if (s.num && ioctl(d->fd, VHOST_VDPA_SET_GROUP_ASID, &s))
			return -errno;
	}
	for (q = 0; q < d->nq; q++)
		if ((r = setup_queue(d, q)))
			return r;
	return set_status(d, st | VIRTIO_CONFIG_S_DRIVER_OK);
}

void kick(struct dev *d, int q)
{
	struct ring *r = &d->rings[q];
	uint64_t one = 1;
	uint16_t q16 = q;

	if (r->doorbell)
		*r->doorbell = q;
	else if (d->vfio) {
		if (pwrite(d->fd, &q16, sizeof(q16), d->notify_off + (uint64_t)q * PAGE) != 2)
			perror("kick");
	} else if (write(r->kick, &one, sizeof(one)) != sizeof(one))
		perror("kick");
}

static void publish(struct dev *d, struct ring *r, uint16_t head)
{
	r->avail->ring[r->avail_idx % r->num] = head;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	r->avail->idx = ++r->avail_idx;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	kick(d, r - d->rings);
}

int map_doorbell(struct dev *d, int q)
{
	void *p = mmap(NULL, PAGE, PROT_WRITE, MAP_SHARED, d->fd,
		       (off_t)(d->vfio ? d->notify_off : 0) + (off_t)q * PAGE);

	if (p == MAP_FAILED)
		return -errno;
	d->rings[q].doorbell = p;
	return 0;
}

void unmap_doorbell(struct dev *d, int q)
{
	if (d->rings[q].doorbell)
		munmap((void *)d->rings[q].doorbell, PAGE);
	d->rings[q].doorbell = NULL;
}

void post(struct dev *d, int q, void *p, uint32_t len, int writable)
{
	struct ring *r = &d->rings[q];
	uint16_t head = r->avail_idx % r->num;

	r->desc[head].addr = iova(d, p);
	r->desc[head].len = len;
	r->desc[head].flags = writable ? VRING_DESC_F_WRITE : 0;
	r->desc[head].next = 0;
	publish(d, r, head);
}

void post_chain(struct dev *d, int q, uint16_t head, const struct vring_desc *descs, int n)
{
	struct ring *r = &d->rings[q];
	int i;

	for (i = 0; i < n; i++) {
		r->desc[head + i] = descs[i];
		r->desc[head + i].next = head + descs[i].next;
	}
	publish(d, r, head);
}

int wait_used(struct dev *d, int q, int timeout_ms, uint16_t *id)
{
	struct ring *r = &d->rings[q];
	int waited = 0;

	for (;;) {
		struct pollfd p = { r->call, POLLIN, 0 };
		uint64_t n;

		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (*(volatile uint16_t *)&r->used->idx != r->last_used) {
			struct vring_used_elem e = r->used->ring[r->last_used % r->num];

			r->last_used++;
			*id = e.id;
			return e.len;
		}
		if (waited >= timeout_ms)
			return -1;
		if (poll(&p, 1, 10) > 0 && read(r->call, &n, sizeof(n)) < 0)
			perror("call");
		waited += 10;
	}
}
