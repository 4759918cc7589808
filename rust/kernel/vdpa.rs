// SPDX-License-Identifier: GPL-2.0

//! vDPA parents: devices whose data path is a virtio ring and whose control
//! path is vendor specific.
//!
//! A parent driver implements [`ConfigOps`] for its device data: the vDPA bus
//! calls it to set virtqueues up, negotiate features, read the config space,
//! reset, suspend, map memory and so on. Devices are created by a management
//! device ([`MgmtDriver`], registered with [`MgmtRegistration`]) when
//! userspace asks for one with `vdpa dev add`, and removed with `vdpa dev del`
//! or when the management device goes away.
//!
//! Once registered, a device is driven by one of the vDPA bus drivers:
//! `virtio_vdpa` (the kernel's own virtio drivers run on it) or `vhost_vdpa`
//! (userspace drives it through `/dev/vhost-vdpa-N`).
//!
//! C header: [`include/linux/vdpa.h`](srctree/include/linux/vdpa.h)
//!
//! The bus driver's callbacks stay with the abstraction ([`Callbacks`]): a
//! parent can only ask for a virtqueue's callback to be called.

use crate::{
    bindings,
    error::to_result,
    prelude::*, //
};
use core::marker::PhantomData;

mod adapter;
mod callback;
mod config_ops;
mod device;
pub mod driver;
mod mgmt;

pub use callback::Callbacks;
pub use config_ops::ConfigOps;
pub use device::{
    Device,
    UnregisteredDevice, //
};
pub use mgmt::{
    MgmtAttrs,
    MgmtDriver,
    MgmtRegistration, //
};

/// The virtio device status bits, as [`ConfigOps::get_status`] and
/// [`ConfigOps::set_status`] carry them.
pub use crate::virtio::status;

/// Reset flag: also restore the memory mappings to their default.
pub const RESET_F_CLEAN_MAP: u32 = bindings::VDPA_RESET_F_CLEAN_MAP;

/// The state of a virtqueue, as saved and restored across a migration.
///
/// For a split virtqueue it is the index of the next available entry the
/// device will take.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VqState {
    /// The next available index (split virtqueues).
    pub avail_index: u16,
}

/// The range of IOVAs a device can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IovaRange {
    /// The first usable IOVA.
    pub first: u64,
    /// The last usable IOVA (inclusive).
    pub last: u64,
}

/// The doorbell of a virtqueue, for userspace to map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotificationArea {
    /// The physical address of the doorbell.
    pub addr: u64,
    /// The size of the area (a page for vhost-vdpa to map it).
    pub size: u64,
}

/// How a device translates the addresses its driver gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DmaModel {
    /// The device gets whole IOTLBs at once ([`ConfigOps::set_map`]).
    Batch,
    /// The device gets mappings one at a time ([`ConfigOps::dma_map`] and
    /// [`ConfigOps::dma_unmap`]).
    Incremental,
    /// The device uses the platform IOMMU through the DMA API of its DMA
    /// device: none of the map ops is offered.
    Platform,
}

/// The vDPA bus driver a device was last reset by (see [`Device::bus_driver`]).
///
/// Every bus driver resets a device before it drives it (`virtio_vdpa` when
/// its virtio driver probes, `vhost_vdpa` when `/dev/vhost-vdpa-N` is
/// opened) and when it stops driving it, so a parent can choose its
/// defaults in [`ConfigOps::reset`] by who asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BusDriver {
    /// No bus driver reset the device yet.
    None,
    /// `virtio_vdpa`: the kernel's own virtio drivers, which give the device
    /// addresses of the DMA API of its DMA device.
    Virtio,
    /// `vhost_vdpa`: userspace, which gives the device its mappings
    /// explicitly and must reach nothing else.
    Vhost,
    /// Another bus driver.
    Other,
}

impl BusDriver {
    fn to_raw(self) -> u32 {
        match self {
            BusDriver::None => 0,
            BusDriver::Virtio => 1,
            BusDriver::Vhost => 2,
            BusDriver::Other => 3,
        }
    }

    fn from_raw(v: u32) -> Self {
        match v {
            0 => BusDriver::None,
            1 => BusDriver::Virtio,
            2 => BusDriver::Vhost,
            _ => BusDriver::Other,
        }
    }
}

/// How to create a vDPA device; see [`UnregisteredDevice::new`].
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// The number of virtqueues.
    pub nvqs: u32,
    /// The number of virtqueue groups.
    pub ngroups: u32,
    /// The number of address spaces.
    pub nas: u32,
    /// How the device translates addresses.
    pub dma: DmaModel,
    /// True if the device is its own DMA device (a software device with a
    /// 64-bit DMA mask and no IOMMU); false to use the parent device.
    pub self_dma: bool,
}

/// Attributes a management device accepts in `vdpa dev add`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigAttrs(u64);

impl ConfigAttrs {
    /// No attribute.
    pub const NONE: ConfigAttrs = ConfigAttrs(0);
    /// `mac`: the MAC address of a net device.
    pub const NET_MAC: ConfigAttrs =
        ConfigAttrs(1 << bindings::vdpa_attr_VDPA_ATTR_DEV_NET_CFG_MACADDR);
    /// `mtu`: the MTU of a net device.
    pub const NET_MTU: ConfigAttrs =
        ConfigAttrs(1 << bindings::vdpa_attr_VDPA_ATTR_DEV_NET_CFG_MTU);
    /// `max_vqp`: the number of queue pairs of a net device.
    pub const NET_MAX_VQP: ConfigAttrs =
        ConfigAttrs(1 << bindings::vdpa_attr_VDPA_ATTR_DEV_NET_CFG_MAX_VQP);
    /// `device_features`: the features the device offers.
    pub const FEATURES: ConfigAttrs = ConfigAttrs(1 << bindings::vdpa_attr_VDPA_ATTR_DEV_FEATURES);

    /// Both sets of attributes.
    pub const fn union(self, other: ConfigAttrs) -> ConfigAttrs {
        ConfigAttrs(self.0 | other.0)
    }

    /// The attributes as the vDPA core's mask (`1 << VDPA_ATTR_*`).
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// True if every attribute of `other` is in `self`.
    pub const fn contains(self, other: ConfigAttrs) -> bool {
        self.0 & other.0 == other.0
    }
}

/// The attributes given to `vdpa dev add` (or `vdpa dev set`), each present
/// only if the user gave it. The vDPA core has already refused the ones the
/// management device does not declare in [`MgmtAttrs::config_attrs`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DevSetConfig {
    /// The MAC address.
    pub mac: Option<[u8; 6]>,
    /// The MTU.
    pub mtu: Option<u16>,
    /// The number of queue pairs.
    pub max_vq_pairs: Option<u16>,
    /// The features the device should offer.
    pub device_features: Option<u64>,
}

impl DevSetConfig {
    fn from_raw(c: &bindings::vdpa_dev_set_config) -> Self {
        let has = |a: ConfigAttrs| ConfigAttrs(c.mask).contains(a);
        DevSetConfig {
            mac: has(ConfigAttrs::NET_MAC).then_some(c.net.mac),
            mtu: has(ConfigAttrs::NET_MTU).then_some(c.net.mtu),
            max_vq_pairs: has(ConfigAttrs::NET_MAX_VQP).then_some(c.net.max_vq_pairs),
            device_features: has(ConfigAttrs::FEATURES).then_some(c.device_features),
        }
    }
}

/// A netlink message being filled with the vendor statistics of a
/// virtqueue (`vdpa dev vstats show`).
pub struct VendorStats<'a> {
    msg: *mut bindings::sk_buff,
    _p: PhantomData<&'a mut bindings::sk_buff>,
}

impl VendorStats<'_> {
    /// Adds one named counter. Fails with `EMSGSIZE` when the message is full.
    pub fn put(&mut self, name: &CStr, value: u64) -> Result {
        // SAFETY: `self.msg` is the message the vDPA core is filling, valid
        // for the lifetime of `self`; `name` is a valid C string.
        to_result(unsafe {
            bindings::nla_put_string(
                self.msg,
                bindings::vdpa_attr_VDPA_ATTR_DEV_VENDOR_ATTR_NAME as c_int,
                name.as_char_ptr(),
            )
        })
        .map_err(|_| EMSGSIZE)?;
        // SAFETY: As above.
        to_result(unsafe {
            bindings::nla_put_u64_64bit(
                self.msg,
                bindings::vdpa_attr_VDPA_ATTR_DEV_VENDOR_ATTR_VALUE as c_int,
                value,
                bindings::vdpa_attr_VDPA_ATTR_PAD as c_int,
            )
        })
        .map_err(|_| EMSGSIZE)
    }
}
