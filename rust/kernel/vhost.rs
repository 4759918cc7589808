// SPDX-License-Identifier: GPL-2.0

//! vhost helpers for in-kernel devices: the IOTLB and the host side of vrings.
//!
//! A software vDPA device reaches the rings and buffers its driver set up
//! through an IOTLB (IOVA to physical address translations, [`iotlb`]) and
//! walks the rings with vringh ([`vringh`]).
//!
//! C headers: [`include/linux/vhost_iotlb.h`](srctree/include/linux/vhost_iotlb.h),
//! [`include/linux/vringh.h`](srctree/include/linux/vringh.h).

pub mod iotlb;
pub mod vringh;

/// vhost backend features (`VHOST_BACKEND_F_*`), as masks of the word
/// `VHOST_GET_BACKEND_FEATURES` returns.
pub mod backend {
    use crate::bindings;

    /// Virtqueues may be enabled after `DRIVER_OK`.
    pub const ENABLE_AFTER_DRIVER_OK: u64 = 1 << bindings::VHOST_BACKEND_F_ENABLE_AFTER_DRIVER_OK;
}
