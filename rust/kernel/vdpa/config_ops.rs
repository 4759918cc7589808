// SPDX-License-Identifier: GPL-2.0

//! The config ops of a vDPA device: what its parent implements.

use super::{
    Device,
    IovaRange,
    NotificationArea,
    VendorStats,
    VqState, //
};
use crate::{
    error::VTABLE_DEFAULT_ERROR,
    prelude::*,
    vhost::iotlb::Iotlb, //
};

/// The operations of a vDPA device, implemented on the driver's device data.
///
/// Every operation receives the [`Device`], which dereferences to the data.
/// Operations may be called concurrently from several bus-driver contexts
/// (`kick_vq` even from atomic context), so the data uses its own locking.
///
/// Queue indices are checked by the abstraction: an operation is only called
/// with `idx < nvqs`; an out-of-range index gets `EINVAL` (or is ignored
/// where the C op returns nothing). Config accesses are checked against
/// [`ConfigOps::get_config_size`] the same way.
#[vtable]
pub trait ConfigOps: Sized + Send + Sync + 'static {
    /// Sets the IOVAs of a virtqueue's descriptor table, driver area and
    /// device area.
    fn set_vq_address(dev: &Device<Self>, idx: u16, desc: u64, driver: u64, device: u64) -> Result;

    /// Sets the size of a virtqueue.
    fn set_vq_num(dev: &Device<Self>, idx: u16, num: u32);

    /// The driver made buffers available in a virtqueue.
    fn kick_vq(dev: &Device<Self>, idx: u16);

    /// Like [`ConfigOps::kick_vq`] with the notification data
    /// (`VIRTIO_F_NOTIFICATION_DATA`): the queue index in the low 16 bits.
    fn kick_vq_with_data(_dev: &Device<Self>, _data: u32) {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Enables or disables a virtqueue.
    fn set_vq_ready(dev: &Device<Self>, idx: u16, ready: bool);

    /// Returns whether a virtqueue is enabled.
    fn get_vq_ready(dev: &Device<Self>, idx: u16) -> bool;

    /// Restores the state of a virtqueue.
    fn set_vq_state(dev: &Device<Self>, idx: u16, state: &VqState) -> Result;

    /// Returns the state of a virtqueue.
    fn get_vq_state(dev: &Device<Self>, idx: u16) -> Result<VqState>;

    /// Fills the vendor statistics of a virtqueue.
    fn get_vendor_vq_stats(_dev: &Device<Self>, _idx: u16, _stats: &mut VendorStats<'_>) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Returns the doorbell of a virtqueue, for userspace to map.
    fn get_vq_notification(_dev: &Device<Self>, _idx: u16) -> NotificationArea {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Returns the Linux IRQ number that signals a virtqueue, for irq bypass.
    fn get_vq_irq(_dev: &Device<Self>, _idx: u16) -> Result<u32> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Returns the size of a virtqueue.
    fn get_vq_size(_dev: &Device<Self>, _idx: u16) -> u16 {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Returns the alignment the virtqueue areas need. Without it, a page.
    fn get_vq_align(_dev: &Device<Self>) -> u32 {
        crate::page::PAGE_SIZE as u32
    }

    /// Returns the group of a virtqueue.
    fn get_vq_group(_dev: &Device<Self>, _idx: u16) -> u32 {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Returns the features the device offers.
    fn get_device_features(dev: &Device<Self>) -> u64;

    /// Returns the vhost backend features (`VHOST_BACKEND_F_*`) the parent
    /// supports.
    fn get_backend_features(_dev: &Device<Self>) -> u64 {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Sets the features the driver accepted.
    fn set_driver_features(dev: &Device<Self>, features: u64) -> Result;

    /// Returns the features the driver accepted.
    fn get_driver_features(dev: &Device<Self>) -> u64;

    /// Returns the largest virtqueue size.
    fn get_vq_num_max(dev: &Device<Self>) -> u16;

    /// Returns the smallest virtqueue size.
    fn get_vq_num_min(_dev: &Device<Self>) -> u16 {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Returns the virtio device id (`VIRTIO_ID_*`).
    fn get_device_id(dev: &Device<Self>) -> u32;

    /// Returns the vendor id. Without it, 0.
    fn get_vendor_id(_dev: &Device<Self>) -> u32 {
        0
    }

    /// Returns the device status.
    fn get_status(dev: &Device<Self>) -> u8;

    /// Sets the device status.
    fn set_status(dev: &Device<Self>, status: u8);

    /// Resets the device. [`Device::bus_driver`] tells which bus driver asks.
    fn reset(dev: &Device<Self>) -> Result;

    /// Resets the device with compatibility flags (such as
    /// [`RESET_F_CLEAN_MAP`](super::RESET_F_CLEAN_MAP)). [`Device::bus_driver`] tells which bus driver
    /// asks.
    fn compat_reset(_dev: &Device<Self>, _flags: u32) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Stops the device from processing virtqueues, keeping their state.
    fn suspend(_dev: &Device<Self>) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Resumes a suspended device.
    fn resume(_dev: &Device<Self>) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Returns the size of the device config space.
    fn get_config_size(dev: &Device<Self>) -> usize;

    /// Reads the config space at `offset` into `buf` (within the size).
    fn get_config(dev: &Device<Self>, offset: usize, buf: &mut [u8]);

    /// Writes `buf` to the config space at `offset` (within the size).
    /// Without it, the config space is read-only and writes are ignored.
    fn set_config(_dev: &Device<Self>, _offset: usize, _buf: &[u8]) {}

    /// Returns the config generation, which changes with the config space.
    fn get_generation(_dev: &Device<Self>) -> u32 {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Returns the range of IOVAs the device can use.
    fn get_iova_range(_dev: &Device<Self>) -> IovaRange {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Sets the address space of a virtqueue group.
    fn set_group_asid(_dev: &Device<Self>, _group: u32, _asid: u32) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Replaces the mappings of an address space ([`DmaModel::Batch`](super::DmaModel::Batch)).
    fn set_map(_dev: &Device<Self>, _asid: u32, _iotlb: &Iotlb) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Maps `size` bytes at `iova` to `pa` ([`DmaModel::Incremental`](super::DmaModel::Incremental); a
    /// driver that implements it must implement [`ConfigOps::dma_unmap`] too).
    fn dma_map(
        _dev: &Device<Self>,
        _asid: u32,
        _iova: u64,
        _size: u64,
        _pa: u64,
        _perm: u32,
    ) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Unmaps `size` bytes at `iova` ([`DmaModel::Incremental`](super::DmaModel::Incremental)).
    fn dma_unmap(_dev: &Device<Self>, _asid: u32, _iova: u64, _size: u64) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Restores the default mappings of an address space.
    fn reset_map(_dev: &Device<Self>, _asid: u32) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
}
