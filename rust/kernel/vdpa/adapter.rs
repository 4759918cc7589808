// SPDX-License-Identifier: GPL-2.0

//! The C side of the config ops: the ops tables and their trampolines, which
//! check what the vDPA core passes and call [`ConfigOps`] with a [`Device`].

use super::{
    BusDriver,
    ConfigOps,
    Device,
    DmaModel,
    NotificationArea,
    VendorStats,
    VqState, //
};
use crate::{
    bindings,
    device,
    error::from_result,
    prelude::*,
    sync::atomic::Relaxed,
    vhost::iotlb::Iotlb, //
};
use core::{
    marker::PhantomData,
    ptr, //
};

/// An op of the table if `present`, else none (the vDPA core's default).
macro_rules! op {
    ($present:expr, $f:expr) => {
        if $present {
            Some($f)
        } else {
            None
        }
    };
}

/// Builds the ops table of `T` and holds its trampolines.
pub(super) struct Adapter<T: ConfigOps>(PhantomData<T>);

impl<T: ConfigOps> Adapter<T> {
    const fn build(dma: DmaModel) -> bindings::vdpa_config_ops {
        // Both halves of the incremental DMA model, or neither.
        const {
            assert!(
                T::HAS_DMA_MAP == T::HAS_DMA_UNMAP,
                "dma_map needs dma_unmap"
            )
        };
        let batch = matches!(dma, DmaModel::Batch);
        let incremental = matches!(dma, DmaModel::Incremental);
        bindings::vdpa_config_ops {
            set_vq_address: Some(Self::set_vq_address_cb),
            set_vq_num: Some(Self::set_vq_num_cb),
            kick_vq: Some(Self::kick_vq_cb),
            kick_vq_with_data: op!(T::HAS_KICK_VQ_WITH_DATA, Self::kick_vq_with_data_cb),
            set_vq_cb: Some(Self::set_vq_cb_cb),
            set_vq_ready: Some(Self::set_vq_ready_cb),
            get_vq_ready: Some(Self::get_vq_ready_cb),
            set_vq_state: Some(Self::set_vq_state_cb),
            get_vq_state: Some(Self::get_vq_state_cb),
            get_vendor_vq_stats: op!(T::HAS_GET_VENDOR_VQ_STATS, Self::get_vendor_vq_stats_cb),
            get_vq_notification: op!(T::HAS_GET_VQ_NOTIFICATION, Self::get_vq_notification_cb),
            get_vq_irq: op!(T::HAS_GET_VQ_IRQ, Self::get_vq_irq_cb),
            get_vq_size: op!(T::HAS_GET_VQ_SIZE, Self::get_vq_size_cb),
            get_vq_align: Some(Self::get_vq_align_cb),
            get_vq_group: op!(T::HAS_GET_VQ_GROUP, Self::get_vq_group_cb),
            get_device_features: Some(Self::get_device_features_cb),
            get_backend_features: op!(T::HAS_GET_BACKEND_FEATURES, Self::get_backend_features_cb),
            set_driver_features: Some(Self::set_driver_features_cb),
            get_driver_features: Some(Self::get_driver_features_cb),
            set_config_cb: Some(Self::set_config_cb_cb),
            get_vq_num_max: Some(Self::get_vq_num_max_cb),
            get_vq_num_min: op!(T::HAS_GET_VQ_NUM_MIN, Self::get_vq_num_min_cb),
            get_device_id: Some(Self::get_device_id_cb),
            get_vendor_id: Some(Self::get_vendor_id_cb),
            get_status: Some(Self::get_status_cb),
            set_status: Some(Self::set_status_cb),
            reset: Some(Self::reset_cb),
            compat_reset: op!(T::HAS_COMPAT_RESET, Self::compat_reset_cb),
            suspend: op!(T::HAS_SUSPEND, Self::suspend_cb),
            resume: op!(T::HAS_RESUME, Self::resume_cb),
            get_config_size: Some(Self::get_config_size_cb),
            get_config: Some(Self::get_config_cb),
            set_config: Some(Self::set_config_cb),
            get_generation: op!(T::HAS_GET_GENERATION, Self::get_generation_cb),
            get_iova_range: op!(T::HAS_GET_IOVA_RANGE, Self::get_iova_range_cb),
            set_group_asid: op!(T::HAS_SET_GROUP_ASID, Self::set_group_asid_cb),
            set_map: op!(batch && T::HAS_SET_MAP, Self::set_map_cb),
            dma_map: op!(incremental && T::HAS_DMA_MAP, Self::dma_map_cb),
            dma_unmap: op!(incremental && T::HAS_DMA_UNMAP, Self::dma_unmap_cb),
            reset_map: op!(
                !matches!(dma, DmaModel::Platform) && T::HAS_RESET_MAP,
                Self::reset_map_cb
            ),
            free: Some(Self::free_cb),
            ..pin_init::zeroed()
        }
    }

    const VTABLE_BATCH: bindings::vdpa_config_ops = Self::build(DmaModel::Batch);
    const VTABLE_INCREMENTAL: bindings::vdpa_config_ops = Self::build(DmaModel::Incremental);
    const VTABLE_PLATFORM: bindings::vdpa_config_ops = Self::build(DmaModel::Platform);

    /// Returns the ops table of a DMA model, or `None` if `T` lacks the map
    /// ops the model needs.
    pub(super) fn vtable(dma: DmaModel) -> Option<&'static bindings::vdpa_config_ops> {
        match dma {
            DmaModel::Batch if T::HAS_SET_MAP => Some(&Self::VTABLE_BATCH),
            DmaModel::Incremental if T::HAS_DMA_MAP => Some(&Self::VTABLE_INCREMENTAL),
            DmaModel::Platform => Some(&Self::VTABLE_PLATFORM),
            _ => None,
        }
    }

    /// Records which bus driver is resetting the device.
    ///
    /// # Safety
    ///
    /// Called from the `reset` or `compat_reset` op only, which only the bus
    /// driver bound to the device calls (from its probe, its remove, or a
    /// file it created and closes before its remove returns).
    unsafe fn note_bus_driver(dev: &Device<T>) {
        // SAFETY: The device is valid. The caller is the bound bus driver
        // (safety requirements), so `driver` points to it and it stays
        // registered, with its name, during the call; the driver core sets
        // the field before that driver's probe and clears it after its
        // remove, so it does not change under us.
        let name = unsafe {
            let drv = (*AsRef::<device::Device>::as_ref(dev).as_raw()).driver;
            if drv.is_null() || (*drv).name.is_null() {
                None
            } else {
                Some(CStr::from_char_ptr((*drv).name))
            }
        };
        let bus = match name.map(|n| n.to_bytes()) {
            None => BusDriver::None,
            Some(b"virtio_vdpa") => BusDriver::Virtio,
            Some(b"vhost_vdpa") => BusDriver::Vhost,
            Some(_) => BusDriver::Other,
        };
        dev.bus.store(bus.to_raw(), Relaxed);
    }

    fn vq(dev: &Device<T>, idx: u16) -> Option<u16> {
        (u32::from(idx) < dev.nvqs()).then_some(idx)
    }

    fn config_range(dev: &Device<T>, offset: c_uint, len: c_uint) -> Option<(usize, usize)> {
        let offset = offset as usize;
        let len = len as usize;
        let end = offset.checked_add(len)?;
        (end <= T::get_config_size(dev)).then_some((offset, len))
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by `UnregisteredDevice::new` for `T`.
    unsafe extern "C" fn set_vq_address_cb(
        v: *mut bindings::vdpa_device,
        idx: u16,
        desc: u64,
        driver: u64,
        device: u64,
    ) -> c_int {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let dev = unsafe { Device::<T>::from_raw(v) };
        from_result(|| {
            let idx = Self::vq(dev, idx).ok_or(EINVAL)?;
            T::set_vq_address(dev, idx, desc, driver, device)?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by `UnregisteredDevice::new` for `T`.
    unsafe extern "C" fn set_vq_num_cb(v: *mut bindings::vdpa_device, idx: u16, num: u32) {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let dev = unsafe { Device::<T>::from_raw(v) };
        if let Some(idx) = Self::vq(dev, idx) {
            T::set_vq_num(dev, idx, num)
        }
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by `UnregisteredDevice::new` for `T`.
    unsafe extern "C" fn kick_vq_cb(v: *mut bindings::vdpa_device, idx: u16) {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let dev = unsafe { Device::<T>::from_raw(v) };
        if let Some(idx) = Self::vq(dev, idx) {
            T::kick_vq(dev, idx)
        }
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by `UnregisteredDevice::new` for `T`.
    unsafe extern "C" fn kick_vq_with_data_cb(v: *mut bindings::vdpa_device, data: u32) {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let dev = unsafe { Device::<T>::from_raw(v) };
        if Self::vq(dev, data as u16).is_some() {
            T::kick_vq_with_data(dev, data)
        }
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by `UnregisteredDevice::new` for `T`.
    unsafe extern "C" fn set_vq_cb_cb(
        v: *mut bindings::vdpa_device,
        idx: u16,
        cb: *mut bindings::vdpa_callback,
    ) {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let dev = unsafe { Device::<T>::from_raw(v) };
        // SAFETY: `cb` is null or a valid callback given by the bus driver;
        // the callbacks serve this device (type invariants of `Device`).
        unsafe { dev.callbacks.set_vq(idx, cb) };
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by `UnregisteredDevice::new` for `T`.
    unsafe extern "C" fn set_vq_ready_cb(v: *mut bindings::vdpa_device, idx: u16, ready: bool) {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let dev = unsafe { Device::<T>::from_raw(v) };
        if let Some(idx) = Self::vq(dev, idx) {
            T::set_vq_ready(dev, idx, ready)
        }
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by `UnregisteredDevice::new` for `T`.
    unsafe extern "C" fn get_vq_ready_cb(v: *mut bindings::vdpa_device, idx: u16) -> bool {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let dev = unsafe { Device::<T>::from_raw(v) };
        Self::vq(dev, idx).is_some_and(|idx| T::get_vq_ready(dev, idx))
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by `UnregisteredDevice::new` for `T`.
    unsafe extern "C" fn set_vq_state_cb(
        v: *mut bindings::vdpa_device,
        idx: u16,
        state: *const bindings::vdpa_vq_state,
    ) -> c_int {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let dev = unsafe { Device::<T>::from_raw(v) };
        from_result(|| {
            let idx = Self::vq(dev, idx).ok_or(EINVAL)?;
            // SAFETY: `state` is valid for reads; the split view is the one
            // this abstraction supports.
            let avail_index = unsafe { (*state).__bindgen_anon_1.split.avail_index };
            T::set_vq_state(dev, idx, &VqState { avail_index })?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by `UnregisteredDevice::new` for `T`.
    unsafe extern "C" fn get_vq_state_cb(
        v: *mut bindings::vdpa_device,
        idx: u16,
        state: *mut bindings::vdpa_vq_state,
    ) -> c_int {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let dev = unsafe { Device::<T>::from_raw(v) };
        from_result(|| {
            let idx = Self::vq(dev, idx).ok_or(EINVAL)?;
            let s = T::get_vq_state(dev, idx)?;
            // SAFETY: `state` is valid for writes.
            unsafe { (*state).__bindgen_anon_1.split.avail_index = s.avail_index };
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by `UnregisteredDevice::new` for `T`.
    unsafe extern "C" fn get_vendor_vq_stats_cb(
        v: *mut bindings::vdpa_device,
        idx: u16,
        msg: *mut bindings::sk_buff,
        _extack: *mut bindings::netlink_ext_ack,
    ) -> c_int {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let dev = unsafe { Device::<T>::from_raw(v) };
        from_result(|| {
            let idx = Self::vq(dev, idx).ok_or(EINVAL)?;
            let mut stats = VendorStats {
                msg,
                _p: PhantomData,
            };
            T::get_vendor_vq_stats(dev, idx, &mut stats)?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by `UnregisteredDevice::new` for `T`.
    unsafe extern "C" fn get_vq_notification_cb(
        v: *mut bindings::vdpa_device,
        idx: u16,
    ) -> bindings::vdpa_notification_area {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let dev = unsafe { Device::<T>::from_raw(v) };
        let area = Self::vq(dev, idx)
            .map(|idx| T::get_vq_notification(dev, idx))
            .unwrap_or(NotificationArea { addr: 0, size: 0 });
        bindings::vdpa_notification_area {
            addr: area.addr,
            size: area.size,
        }
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by `UnregisteredDevice::new` for `T`.
    unsafe extern "C" fn get_vq_irq_cb(v: *mut bindings::vdpa_device, idx: u16) -> c_int {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let dev = unsafe { Device::<T>::from_raw(v) };
        from_result(|| {
            let idx = Self::vq(dev, idx).ok_or(EINVAL)?;
            let irq = T::get_vq_irq(dev, idx)?;
            c_int::try_from(irq).map_err(|_| EINVAL)
        })
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by `UnregisteredDevice::new` for `T`.
    unsafe extern "C" fn get_vq_size_cb(v: *mut bindings::vdpa_device, idx: u16) -> u16 {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let dev = unsafe { Device::<T>::from_raw(v) };
        Self::vq(dev, idx).map_or(0, |idx| T::get_vq_size(dev, idx))
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by `UnregisteredDevice::new` for `T`.
    unsafe extern "C" fn get_vq_align_cb(v: *mut bindings::vdpa_device) -> u32 {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        T::get_vq_align(unsafe { Device::<T>::from_raw(v) })
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by `UnregisteredDevice::new` for `T`.
    unsafe extern "C" fn get_vq_group_cb(v: *mut bindings::vdpa_device, idx: u16) -> u32 {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let dev = unsafe { Device::<T>::from_raw(v) };
        Self::vq(dev, idx).map_or(0, |idx| T::get_vq_group(dev, idx))
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by `UnregisteredDevice::new` for `T`.
    unsafe extern "C" fn get_device_features_cb(v: *mut bindings::vdpa_device) -> u64 {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        T::get_device_features(unsafe { Device::<T>::from_raw(v) })
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by `UnregisteredDevice::new` for `T`.
    unsafe extern "C" fn get_backend_features_cb(v: *const bindings::vdpa_device) -> u64 {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        T::get_backend_features(unsafe { Device::<T>::from_raw(v) })
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by `UnregisteredDevice::new` for `T`.
    unsafe extern "C" fn set_driver_features_cb(v: *mut bindings::vdpa_device, f: u64) -> c_int {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let dev = unsafe { Device::<T>::from_raw(v) };
        from_result(|| {
            T::set_driver_features(dev, f)?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by `UnregisteredDevice::new` for `T`.
    unsafe extern "C" fn get_driver_features_cb(v: *mut bindings::vdpa_device) -> u64 {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        T::get_driver_features(unsafe { Device::<T>::from_raw(v) })
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by `UnregisteredDevice::new` for `T`.
    unsafe extern "C" fn set_config_cb_cb(
        v: *mut bindings::vdpa_device,
        cb: *mut bindings::vdpa_callback,
    ) {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let dev = unsafe { Device::<T>::from_raw(v) };
        // SAFETY: `cb` is null or a valid callback given by the bus driver;
        // the callbacks serve this device (type invariants of `Device`).
        unsafe { dev.callbacks.set_config(cb) };
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by `UnregisteredDevice::new` for `T`.
    unsafe extern "C" fn get_vq_num_max_cb(v: *mut bindings::vdpa_device) -> u16 {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        T::get_vq_num_max(unsafe { Device::<T>::from_raw(v) })
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by `UnregisteredDevice::new` for `T`.
    unsafe extern "C" fn get_vq_num_min_cb(v: *mut bindings::vdpa_device) -> u16 {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        T::get_vq_num_min(unsafe { Device::<T>::from_raw(v) })
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by `UnregisteredDevice::new` for `T`.
    unsafe extern "C" fn get_device_id_cb(v: *mut bindings::vdpa_device) -> u32 {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        T::get_device_id(unsafe { Device::<T>::from_raw(v) })
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by `UnregisteredDevice::new` for `T`.
    unsafe extern "C" fn get_vendor_id_cb(v: *mut bindings::vdpa_device) -> u32 {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        T::get_vendor_id(unsafe { Device::<T>::from_raw(v) })
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by `UnregisteredDevice::new` for `T`.
    unsafe extern "C" fn get_status_cb(v: *mut bindings::vdpa_device) -> u8 {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        T::get_status(unsafe { Device::<T>::from_raw(v) })
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by `UnregisteredDevice::new` for `T`.
    unsafe extern "C" fn set_status_cb(v: *mut bindings::vdpa_device, status: u8) {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        T::set_status(unsafe { Device::<T>::from_raw(v) }, status)
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by `UnregisteredDevice::new` for `T`.
    unsafe extern "C" fn reset_cb(v: *mut bindings::vdpa_device) -> c_int {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let dev = unsafe { Device::<T>::from_raw(v) };
        // SAFETY: Called from the `reset` op.
        unsafe { Self::note_bus_driver(dev) };
        // The bus driver's callbacks end with the reset, before the parent
        // stops the device: none runs or is called once this returns.
        dev.callbacks.clear();
        from_result(|| {
            T::reset(dev)?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by `UnregisteredDevice::new` for `T`.
    unsafe extern "C" fn compat_reset_cb(v: *mut bindings::vdpa_device, flags: u32) -> c_int {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let dev = unsafe { Device::<T>::from_raw(v) };
        // SAFETY: Called from the `compat_reset` op.
        unsafe { Self::note_bus_driver(dev) };
        // The bus driver's callbacks end with the reset, before the parent
        // stops the device: none runs or is called once this returns.
        dev.callbacks.clear();
        from_result(|| {
            T::compat_reset(dev, flags)?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by `UnregisteredDevice::new` for `T`.
    unsafe extern "C" fn suspend_cb(v: *mut bindings::vdpa_device) -> c_int {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let dev = unsafe { Device::<T>::from_raw(v) };
        from_result(|| {
            T::suspend(dev)?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by `UnregisteredDevice::new` for `T`.
    unsafe extern "C" fn resume_cb(v: *mut bindings::vdpa_device) -> c_int {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let dev = unsafe { Device::<T>::from_raw(v) };
        from_result(|| {
            T::resume(dev)?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by `UnregisteredDevice::new` for `T`.
    unsafe extern "C" fn get_config_size_cb(v: *mut bindings::vdpa_device) -> usize {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        T::get_config_size(unsafe { Device::<T>::from_raw(v) })
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by `UnregisteredDevice::new` for `T`.
    unsafe extern "C" fn get_config_cb(
        v: *mut bindings::vdpa_device,
        offset: c_uint,
        buf: *mut c_void,
        len: c_uint,
    ) {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let dev = unsafe { Device::<T>::from_raw(v) };
        if len == 0 {
            return;
        }
        // SAFETY: The caller gives a buffer valid for `len` bytes of writes.
        let buf = unsafe { core::slice::from_raw_parts_mut(buf.cast::<u8>(), len as usize) };
        match Self::config_range(dev, offset, len) {
            Some((offset, _)) => T::get_config(dev, offset, buf),
            None => buf.fill(0),
        }
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by `UnregisteredDevice::new` for `T`.
    unsafe extern "C" fn set_config_cb(
        v: *mut bindings::vdpa_device,
        offset: c_uint,
        buf: *const c_void,
        len: c_uint,
    ) {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let dev = unsafe { Device::<T>::from_raw(v) };
        if len == 0 {
            return;
        }
        // SAFETY: The caller gives a buffer valid for `len` bytes of reads.
        let buf = unsafe { core::slice::from_raw_parts(buf.cast::<u8>(), len as usize) };
        if let Some((offset, _)) = Self::config_range(dev, offset, len) {
            T::set_config(dev, offset, buf)
        }
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by `UnregisteredDevice::new` for `T`.
    unsafe extern "C" fn get_generation_cb(v: *mut bindings::vdpa_device) -> u32 {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        T::get_generation(unsafe { Device::<T>::from_raw(v) })
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by `UnregisteredDevice::new` for `T`.
    unsafe extern "C" fn get_iova_range_cb(
        v: *mut bindings::vdpa_device,
    ) -> bindings::vdpa_iova_range {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let r = T::get_iova_range(unsafe { Device::<T>::from_raw(v) });
        bindings::vdpa_iova_range {
            first: r.first,
            last: r.last,
        }
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by `UnregisteredDevice::new` for `T`.
    unsafe extern "C" fn set_group_asid_cb(
        v: *mut bindings::vdpa_device,
        group: c_uint,
        asid: c_uint,
    ) -> c_int {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let dev = unsafe { Device::<T>::from_raw(v) };
        from_result(|| {
            if group >= dev.ngroups() || asid >= dev.nas() {
                return Err(EINVAL);
            }
            T::set_group_asid(dev, group, asid)?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by `UnregisteredDevice::new` for `T`.
    unsafe extern "C" fn set_map_cb(
        v: *mut bindings::vdpa_device,
        asid: c_uint,
        iotlb: *mut bindings::vhost_iotlb,
    ) -> c_int {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let dev = unsafe { Device::<T>::from_raw(v) };
        from_result(|| {
            if asid >= dev.nas() {
                return Err(EINVAL);
            }
            // SAFETY: vhost-vdpa holds its IOTLB stable during the call.
            let iotlb = unsafe { Iotlb::from_raw(iotlb) };
            T::set_map(dev, asid, iotlb)?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by `UnregisteredDevice::new` for `T`.
    unsafe extern "C" fn dma_map_cb(
        v: *mut bindings::vdpa_device,
        asid: c_uint,
        iova: u64,
        size: u64,
        pa: u64,
        perm: u32,
        _opaque: *mut c_void,
    ) -> c_int {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let dev = unsafe { Device::<T>::from_raw(v) };
        from_result(|| {
            if asid >= dev.nas() || size == 0 || iova.checked_add(size - 1).is_none() {
                return Err(EINVAL);
            }
            T::dma_map(dev, asid, iova, size, pa, perm)?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by `UnregisteredDevice::new` for `T`.
    unsafe extern "C" fn dma_unmap_cb(
        v: *mut bindings::vdpa_device,
        asid: c_uint,
        iova: u64,
        size: u64,
    ) -> c_int {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let dev = unsafe { Device::<T>::from_raw(v) };
        from_result(|| {
            if asid >= dev.nas() || size == 0 || iova.checked_add(size - 1).is_none() {
                return Err(EINVAL);
            }
            T::dma_unmap(dev, asid, iova, size)?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by `UnregisteredDevice::new` for `T`.
    unsafe extern "C" fn reset_map_cb(v: *mut bindings::vdpa_device, asid: c_uint) -> c_int {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let dev = unsafe { Device::<T>::from_raw(v) };
        from_result(|| {
            if asid >= dev.nas() {
                return Err(EINVAL);
            }
            T::reset_map(dev, asid)?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by `UnregisteredDevice::new` for `T`.
    unsafe extern "C" fn free_cb(v: *mut bindings::vdpa_device) {
        let this = v.cast::<Device<T>>();
        // SAFETY: Called once, by the release of the last reference; the
        // fields are initialised (`free` is only in the ops once they are)
        // and nothing uses them any more. The C core frees the memory
        // afterwards.
        unsafe {
            ptr::drop_in_place(ptr::addr_of_mut!((*this).data));
            ptr::drop_in_place(ptr::addr_of_mut!((*this).callbacks));
        }
    }
}
