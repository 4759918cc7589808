// SPDX-License-Identifier: GPL-2.0

#ifdef CONFIG_RUST_VDPA_ABSTRACTIONS

#include <linux/vdpa.h>
#include <linux/vringh.h>
#include <linux/bottom_half.h>
#include <net/netlink.h>

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

#endif
