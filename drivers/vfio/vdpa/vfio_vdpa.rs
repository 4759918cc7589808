// SPDX-License-Identifier: GPL-2.0

//! vDPA devices as VFIO mediated devices.
//!
//! A vDPA bus driver, like `vhost_vdpa`, that binds only to devices whose
//! `driver_override` names it. Each bound device becomes an mdev parent with
//! one type for its device class (`vfio_vdpa-net`, `vfio_vdpa-blk`,
//! `vfio_vdpa-virtio-<id>`); an mdev created on it is an emulated VFIO
//! device that userspace drives with the vhost-vdpa ioctls on its VFIO fd
//! and whose CONFIG region is the virtio config space. The uAPI is in
//! `include/uapi/linux/vfio_vdpa.h`.
//!
//! This is the control path: no DMA, doorbells or interrupts yet. The device
//! is reset at first open and last close, and given an empty map in every
//! address space each time, so that it reaches no memory.

use kernel::{
    device,
    mdev,
    new_mutex,
    prelude::*,
    str::CString,
    sync::{
        Arc,
        Mutex, //
    },
    uaccess::{
        UserPtr,
        UserSlice,
        UserSliceReader,
        UserSliceWriter, //
    },
    vdpa::{
        driver::{
            BusDevice,
            Handle,
            Registration, //
        },
        status,
        DmaModel, //
    },
    vfio,
    virtio, //
};

module! {
    type: VfioVdpaModule,
    name: "vfio_vdpa",
    authors: ["rvdpa developers"],
    description: "vDPA devices as VFIO mediated devices",
    license: "GPL",
}

/// The vhost ioctls accepted on the VFIO fd (`include/uapi/linux/vhost.h`).
mod vhost {
    use kernel::ioctl::{
        _IO,
        _IOR,
        _IOW, //
    };

    const VIRTIO: u32 = 0xAF;

    pub(crate) const GET_FEATURES: u32 = _IOR::<u64>(VIRTIO, 0x00);
    pub(crate) const SET_FEATURES: u32 = _IOW::<u64>(VIRTIO, 0x00);
    pub(crate) const SET_OWNER: u32 = _IO(VIRTIO, 0x01);
    /// `struct vhost_vring_state`: two `u32`s, index and num.
    pub(crate) const SET_VRING_NUM: u32 = _IOW::<[u32; 2]>(VIRTIO, 0x10);
    pub(crate) const VDPA_GET_DEVICE_ID: u32 = _IOR::<u32>(VIRTIO, 0x70);
    pub(crate) const VDPA_GET_STATUS: u32 = _IOR::<u8>(VIRTIO, 0x71);
    pub(crate) const VDPA_SET_STATUS: u32 = _IOW::<u8>(VIRTIO, 0x72);
    pub(crate) const VDPA_GET_VRING_NUM: u32 = _IOR::<u16>(VIRTIO, 0x76);
    pub(crate) const VDPA_GET_CONFIG_SIZE: u32 = _IOR::<u32>(VIRTIO, 0x79);
    pub(crate) const VDPA_GET_VQS_COUNT: u32 = _IOR::<u32>(VIRTIO, 0x80);
}

/// The module: the mdev driver (held by the vDPA driver's context) and the
/// vDPA bus driver, unregistered in the reverse order.
#[pin_data]
struct VfioVdpaModule {
    #[pin]
    vdpa: Registration<VdpaDriver>,
}

impl kernel::InPlaceModule for VfioVdpaModule {
    fn init(module: &'static kernel::ThisModule) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            vdpa <- Registration::new(
                c"vfio_vdpa",
                module,
                Arc::pin_init(mdev::DriverRegistration::new(c"vfio_vdpa_mdev", module), GFP_KERNEL)?,
            ),
        })
    }
}

/// The vDPA bus driver.
struct VdpaDriver;

/// A bound vDPA device: the mdev parent made of it.
#[pin_data]
struct VdpaData {
    #[pin]
    parent: Mutex<Option<mdev::Parent<MdevDriver>>>,
}

/// The name of the mdev type of a virtio device class.
fn type_name(device_id: u32) -> Result<CString> {
    match device_id {
        virtio::id::NET => CString::try_from_fmt(fmt!("net")),
        virtio::id::BLOCK => CString::try_from_fmt(fmt!("blk")),
        id => CString::try_from_fmt(fmt!("virtio-{}", id)),
    }
}

fn new_parent(
    dev: &BusDevice<device::Core<'_>>,
    handle: &Arc<Handle>,
    drv: &Arc<mdev::DriverRegistration<MdevDriver>>,
) -> Result<mdev::Parent<MdevDriver>> {
    // Slice 1 drives parents that take whole maps and physical addresses.
    if dev.use_va() || dev.dma_model() != DmaModel::Batch {
        return Err(EOPNOTSUPP);
    }
    let mut types = KVec::new();
    types.push(
        mdev::TypeDesc {
            sysfs_name: type_name(dev.device_id())?,
            pretty_name: CString::try_from_fmt(fmt!("virtio device {}", dev.device_id()))?,
        },
        GFP_KERNEL,
    )?;
    let bound: &BusDevice<device::Bound> = dev;
    mdev::Parent::new(drv, bound.as_ref(), types, handle.clone())
}

impl kernel::vdpa::driver::Driver for VdpaDriver {
    type Context = Arc<mdev::DriverRegistration<MdevDriver>>;
    type Data = VdpaData;
    const OVERRIDE_ONLY: bool = true;

    fn probe(
        dev: &BusDevice<device::Core<'_>>,
        handle: &Arc<Handle>,
        ctx: &Self::Context,
    ) -> impl PinInit<Self::Data, Error> {
        let parent = new_parent(dev, handle, ctx);
        try_pin_init!(VdpaData {
            parent <- new_mutex!(Some(parent?)),
        })
    }

    fn remove(_dev: &BusDevice<device::Core<'_>>, data: Pin<&Self::Data>) {
        // Removes the mdev, which waits until its VFIO device is closed.
        let parent = data.parent.lock().take();
        drop(parent);
    }
}

/// The mdev driver.
struct MdevDriver;

/// A bound mdev: its VFIO device, registered.
#[pin_data]
struct MdevData {
    _reg: vfio::Registration<VfioVdpa>,
}

impl mdev::Driver for MdevDriver {
    const DEVICE_API: &'static CStr = vfio::vdpa::DEVICE_API;
    const MAX_INSTANCES: u32 = 1;
    type ParentData = Arc<Handle>;
    type Data<'bound> = MdevData;

    fn probe<'bound>(
        mdev: &'bound mdev::Device<device::Core<'_>>,
        parent: &'bound Arc<Handle>,
        _type_index: usize,
    ) -> impl PinInit<MdevData, Error> + 'bound {
        let bound: &mdev::Device<device::Bound> = mdev;
        let reg = vfio::Device::new(
            bound.as_ref(),
            try_pin_init!(VfioVdpa {
                handle: parent.clone(),
            }),
        )
        .and_then(vfio::Registration::new_emulated);
        try_pin_init!(MdevData { _reg: reg? })
    }
}

/// The VFIO device of an mdev.
#[pin_data]
struct VfioVdpa {
    handle: Arc<Handle>,
}

/// Resets the device and leaves it reaching no memory.
fn reset_empty(d: &BusDevice<device::Bound>) -> Result {
    d.reset()?;
    for asid in 0..d.nas() {
        d.set_empty_map(asid)?;
    }
    Ok(())
}

/// vhost-vdpa's `SET_STATUS` rules, and `DRIVER_OK` only after `FEATURES_OK`.
fn set_status(d: &BusDevice<device::Bound>, s: u8) -> Result {
    if s == 0 {
        return reset_empty(d);
    }
    let old = d.status();
    if old & !s != 0 {
        return Err(EINVAL);
    }
    if s & status::DRIVER_OK != 0 && s & status::FEATURES_OK == 0 {
        return Err(EINVAL);
    }
    d.set_status(s);
    Ok(())
}

/// `VHOST_SET_VRING_NUM`, with vhost-vdpa's checks.
fn set_vring_num(d: &BusDevice<device::Bound>, idx: u32, num: u32) -> Result {
    if idx >= d.nvqs() {
        return Err(ENOBUFS);
    }
    if num == 0 || num > u32::from(d.vq_num_max()) || !num.is_power_of_two() {
        return Err(EINVAL);
    }
    if d.status() & status::DRIVER_OK != 0 {
        return Err(EBUSY);
    }
    d.set_vq_num(idx as u16, num)
}

fn reader(arg: usize, len: usize) -> UserSliceReader {
    UserSlice::new(UserPtr::from_addr(arg), len).reader()
}

fn writer(arg: usize, len: usize) -> UserSliceWriter {
    UserSlice::new(UserPtr::from_addr(arg), len).writer()
}

#[vtable]
impl vfio::DeviceOps for VfioVdpa {
    fn open_device(dev: &vfio::Device<Self>) -> Result {
        dev.data().handle.with(reset_empty)
    }

    fn close_device(dev: &vfio::Device<Self>) {
        // ENODEV: the device is gone, nothing to stop.
        let _ = dev.data().handle.with(reset_empty);
    }

    fn info(_dev: &vfio::Device<Self>) -> vfio::DeviceInfo {
        vfio::DeviceInfo {
            flags: vfio::device_flags::VDPA | vfio::device_flags::RESET,
            num_regions: vfio::vdpa::CONFIG_REGION_INDEX + 1,
            num_irqs: 0,
        }
    }

    fn region_info(dev: &vfio::Device<Self>, index: u32) -> Result<vfio::RegionInfo> {
        if index != vfio::vdpa::CONFIG_REGION_INDEX {
            return Err(EINVAL);
        }
        let size = dev.data().handle.with(|d| Ok(d.config_size()))?;
        Ok(vfio::RegionInfo {
            size: size as u64,
            offset: vfio::region_offset(index),
            flags: vfio::region_flags::READ | vfio::region_flags::WRITE,
        })
    }

    fn read(dev: &vfio::Device<Self>, buf: &mut UserSliceWriter, offset: u64) -> Result<usize> {
        let off = config_offset(offset)?;
        let len = buf.len();
        let data = dev.data().handle.with(|d| {
            if len > d.config_size() {
                return Err(EINVAL);
            }
            let mut v = KVec::from_elem(0u8, len, GFP_KERNEL)?;
            d.get_config(off, &mut v)?;
            Ok(v)
        })?;
        buf.write_slice(&data)?;
        Ok(len)
    }

    fn write(dev: &vfio::Device<Self>, buf: &mut UserSliceReader, offset: u64) -> Result<usize> {
        let off = config_offset(offset)?;
        let len = buf.len();
        let handle = &dev.data().handle;
        if len > handle.with(|d| Ok(d.config_size()))? {
            return Err(EINVAL);
        }
        let mut v = KVec::from_elem(0u8, len, GFP_KERNEL)?;
        buf.read_slice(&mut v)?;
        handle.with(|d| d.set_config(off, &v))?;
        Ok(len)
    }

    fn ioctl(dev: &vfio::Device<Self>, cmd: u32, arg: usize) -> Result<isize> {
        let handle = &dev.data().handle;
        match cmd {
            vhost::GET_FEATURES => {
                let f = handle.with(|d| Ok(d.device_features()))?;
                writer(arg, 8).write(&f)?;
            }
            vhost::SET_FEATURES => {
                let f: u64 = reader(arg, 8).read()?;
                handle.with(|d| {
                    if d.status() & status::FEATURES_OK != 0 {
                        return Err(EBUSY);
                    }
                    d.set_features(f)
                })?;
            }
            vhost::SET_OWNER => {}
            vhost::VDPA_GET_DEVICE_ID => {
                let id = handle.with(|d| Ok(d.device_id()))?;
                writer(arg, 4).write(&id)?;
            }
            vhost::VDPA_GET_STATUS => {
                let s = handle.with(|d| Ok(d.status()))?;
                writer(arg, 1).write(&s)?;
            }
            vhost::VDPA_SET_STATUS => {
                let s: u8 = reader(arg, 1).read()?;
                handle.with(|d| set_status(d, s))?;
            }
            vhost::VDPA_GET_CONFIG_SIZE => {
                let size = handle.with(|d| Ok(d.config_size() as u32))?;
                writer(arg, 4).write(&size)?;
            }
            vhost::VDPA_GET_VQS_COUNT => {
                let n = handle.with(|d| Ok(d.nvqs()))?;
                writer(arg, 4).write(&n)?;
            }
            vhost::VDPA_GET_VRING_NUM => {
                let n = handle.with(|d| Ok(d.vq_num_max()))?;
                writer(arg, 2).write(&n)?;
            }
            vhost::SET_VRING_NUM => {
                let mut r = reader(arg, 8);
                let idx: u32 = r.read()?;
                let num: u32 = r.read()?;
                handle.with(|d| set_vring_num(d, idx, num))?;
            }
            vfio::DEVICE_RESET => handle.with(reset_empty)?,
            _ => return Err(ENOTTY),
        }
        Ok(0)
    }
}

/// The offset inside the CONFIG region of a file offset; `EINVAL` for any
/// other region.
fn config_offset(offset: u64) -> Result<usize> {
    let (index, off) = vfio::region_of(offset);
    if index != u64::from(vfio::vdpa::CONFIG_REGION_INDEX) {
        return Err(EINVAL);
    }
    usize::try_from(off).map_err(|_| EINVAL)
}
