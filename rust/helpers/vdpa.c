// SPDX-License-Identifier: GPL-2.0

#ifdef CONFIG_RUST_VDPA_ABSTRACTIONS

#include <linux/spinlock.h>
#include <linux/vdpa.h>
#include <linux/vringh.h>
#include <linux/bottom_half.h>
#include <linux/preempt.h>
#include <linux/irqflags.h>
#include <net/netlink.h>
#include <asm/io.h>

__rust_helper void rust_helper_local_bh_disable(void)
{
	local_bh_disable();
}

__rust_helper void rust_helper_local_bh_enable(void)
{
	local_bh_enable();
}

__rust_helper void rust_helper_vringh_kiov_cleanup(struct vringh_kiov *kiov)
{
	vringh_kiov_cleanup(kiov);
}

__rust_helper int rust_helper_nla_put_string(struct sk_buff *skb, int attrtype,
					     const char *str)
{
	return nla_put_string(skb, attrtype, str);
}

__rust_helper int rust_helper_nla_put_u64_64bit(struct sk_buff *skb, int attrtype,
						u64 value, int padattr)
{
	return nla_put_u64_64bit(skb, attrtype, value, padattr);
}

/*
 * Whether local_bh_disable()/local_bh_enable() may bracket a call here: not
 * in a hard interrupt or NMI, and not with interrupts disabled (enabling
 * bottom halves would run softirqs with them off).
 */
__rust_helper bool rust_helper_rvdpa_may_toggle_bh(void)
{
	return !in_hardirq() && !in_nmi() && !irqs_disabled();
}

/* For the KUnit tests, which map kernel memory into an IOTLB. */
__rust_helper phys_addr_t rust_helper_virt_to_phys(volatile void *address)
{
	return virt_to_phys(address);
}

#endif

#ifdef CONFIG_RUST_VDPA_ABSTRACTIONS

/* For kernel::vdpa::driver, the bus-driver side. */
__rust_helper int rust_helper_vdpa_reset(struct vdpa_device *vdev, u32 flags)
{
	return vdpa_reset(vdev, flags);
}

__rust_helper int rust_helper_vdpa_set_features(struct vdpa_device *vdev,
						u64 features)
{
	return vdpa_set_features(vdev, features);
}

__rust_helper int
rust_helper_device_match_driver_override(struct device *dev,
					 const struct device_driver *drv)
{
	return device_match_driver_override(dev, drv);
}

#endif

#ifdef CONFIG_RUST_VFIO_MDEV_ABSTRACTIONS

#include <linux/mm.h>

/* For kernel::vfio: the physical address of a pinned page. */
__rust_helper phys_addr_t rust_helper_rvdpa_page_to_phys(struct page *page)
{
	return page_to_phys(page);
}

#endif

#ifdef CONFIG_RUST_VFIO_MDEV_ABSTRACTIONS

/* For kernel::vfio: mappings of device I/O memory (pgprot_noncached is a macro). */
__rust_helper pgprot_t rust_helper_rvdpa_pgprot_noncached(pgprot_t prot)
{
	return pgprot_noncached(prot);
}

#endif
