// SPDX-License-Identifier: GPL-2.0

//! VFIO devices emulated by their driver.
//!
//! An emulated VFIO device has no IOMMU group of its own: VFIO gives it a
//! group of type `VFIO_EMULATED_IOMMU`, so userspace can open it through a
//! type1 container (`/dev/vfio/N`) or, with `CONFIG_VFIO_DEVICE_CDEV`, through
//! iommufd (`/dev/vfio/devices/vfioX`). The driver decides what the device
//! file's `read`, `write` and `ioctl` do ([`DeviceOps`]).
//!
//! A [`Device`] is allocated by the VFIO core with the driver's data `T`
//! embedded after the C `struct vfio_device`, reference counted through its
//! `struct device`, and dropped when the last reference goes. It is visible
//! to userspace while a [`Registration`] of it exists.
//!
//! C header: [`include/linux/vfio.h`](srctree/include/linux/vfio.h)

use crate::{
    bindings, device,
    error::{
        from_err_ptr,
        from_result,
        to_result,
        VTABLE_DEFAULT_ERROR, //
    },
    ioctl,
    mm::virt::{
        flags as vm_flags,
        VmaNew, //
    },
    page::{
        PAGE_SHIFT,
        PAGE_SIZE, //
    },
    prelude::*,
    sync::aref::{
        ARef,
        AlwaysRefCounted, //
    },
    types::Opaque,
    uaccess::{
        UserPtr,
        UserSlice,
        UserSliceReader,
        UserSliceWriter, //
    },
};
use core::{
    marker::PhantomData,
    ptr::NonNull, //
};

/// The ioctl type of VFIO (`VFIO_TYPE`).
const VFIO_TYPE: u32 = b';' as u32;
/// The first ioctl number of VFIO (`VFIO_BASE`).
const VFIO_BASE: u32 = 100;
/// `VFIO_DEVICE_GET_INFO`.
const VFIO_DEVICE_GET_INFO: u32 = ioctl::_IO(VFIO_TYPE, VFIO_BASE + 7);
/// `VFIO_DEVICE_GET_IRQ_INFO`.
const VFIO_DEVICE_GET_IRQ_INFO: u32 = ioctl::_IO(VFIO_TYPE, VFIO_BASE + 9);
/// `VFIO_DEVICE_SET_IRQS`.
const VFIO_DEVICE_SET_IRQS: u32 = ioctl::_IO(VFIO_TYPE, VFIO_BASE + 10);
/// The most pages [`Device::pin_pages`] pins in one call (`VFIO_PIN_PAGES_MAX_ENTRIES`).
pub const PIN_PAGES_MAX: usize = PAGE_SIZE / core::mem::size_of::<usize>();

/// Flags of an interrupt index ([`IrqInfo::flags`]).
pub mod irq_flags {
    use crate::bindings;

    /// Its interrupts can be signalled through eventfds.
    pub const EVENTFD: u32 = bindings::VFIO_IRQ_INFO_EVENTFD;
    /// Its count is fixed.
    pub const NORESIZE: u32 = bindings::VFIO_IRQ_INFO_NORESIZE;
}

/// Flags of a region ([`RegionInfo::flags`]).
pub mod region_flags {
    use crate::bindings;

    /// The region can be read.
    pub const READ: u32 = bindings::VFIO_REGION_INFO_FLAG_READ;
    /// The region can be written.
    pub const WRITE: u32 = bindings::VFIO_REGION_INFO_FLAG_WRITE;
    /// The region can be mapped with `mmap`.
    pub const MMAP: u32 = bindings::VFIO_REGION_INFO_FLAG_MMAP;
}

/// Flags of a device ([`DeviceInfo::flags`]).
pub mod device_flags {
    use crate::bindings;

    /// The device supports `VFIO_DEVICE_RESET`.
    pub const RESET: u32 = bindings::VFIO_DEVICE_FLAGS_RESET;
    /// A vfio-vdpa device (`include/uapi/linux/vfio_vdpa.h`).
    pub const VDPA: u32 = bindings::VFIO_DEVICE_FLAGS_VDPA;
}

/// The uAPI of vfio-vdpa devices (`include/uapi/linux/vfio_vdpa.h`).
pub mod vdpa {
    use crate::bindings;

    /// The `device_api` of their mdev types.
    pub const DEVICE_API: &crate::str::CStr = c"vfio-vdpa";
    /// The index of the region of the virtio config space.
    pub const CONFIG_REGION_INDEX: u32 = bindings::VFIO_VDPA_CONFIG_REGION_INDEX;
    /// The index of the NOTIFY region (the queues' doorbells).
    pub const NOTIFY_REGION_INDEX: u32 = bindings::VFIO_VDPA_NOTIFY_REGION_INDEX;
    /// The number of regions.
    pub const NUM_REGIONS: u32 = bindings::VFIO_VDPA_NUM_REGIONS;
    /// The interrupt index of the virtqueues' calls (one per queue).
    pub const VQ_IRQ_INDEX: u32 = bindings::VFIO_VDPA_VQ_IRQ_INDEX;
    /// The interrupt index of the config-change interrupt.
    pub const CONFIG_IRQ_INDEX: u32 = bindings::VFIO_VDPA_CONFIG_IRQ_INDEX;
    /// The interrupt index of the request to close the device.
    pub const REQ_IRQ_INDEX: u32 = bindings::VFIO_VDPA_REQ_IRQ_INDEX;
    /// The number of interrupt indexes.
    pub const NUM_IRQS: u32 = bindings::VFIO_VDPA_NUM_IRQS;
}

/// `VFIO_DEVICE_RESET`, for drivers that implement it in [`DeviceOps::ioctl`].
pub const DEVICE_RESET: u32 = ioctl::_IO(VFIO_TYPE, VFIO_BASE + 11);

/// The number of bits of a file offset below a region's index, as `vfio-pci`
/// lays regions out: region `i` starts at `i << REGION_SHIFT`.
pub const REGION_SHIFT: u32 = 40;

/// The file offset at which region `index` starts (see [`REGION_SHIFT`]).
pub const fn region_offset(index: u32) -> u64 {
    (index as u64) << REGION_SHIFT
}

/// Splits a file offset into a region index and an offset inside the region
/// (see [`REGION_SHIFT`]).
///
/// # Examples
///
/// ```
/// use kernel::vfio::{region_of, region_offset};
///
/// assert_eq!(region_of(region_offset(0) + 6), (0, 6));
/// assert_eq!(region_of(region_offset(2) + 4095), (2, 4095));
/// assert_eq!(region_of(region_offset(1) - 1).0, 0);
/// ```
pub const fn region_of(offset: u64) -> (u64, u64) {
    (
        offset >> REGION_SHIFT,
        offset & ((1u64 << REGION_SHIFT) - 1),
    )
}

/// What `VFIO_DEVICE_GET_INFO` reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceInfo {
    /// `VFIO_DEVICE_FLAGS_*`: the device API and what it supports.
    pub flags: u32,
    /// The number of regions.
    pub num_regions: u32,
    /// The number of interrupt indexes.
    pub num_irqs: u32,
}

/// What `VFIO_DEVICE_GET_REGION_INFO` reports for one region.
#[derive(Debug, Default)]
pub struct RegionInfo {
    /// The size of the region in bytes.
    pub size: u64,
    /// Where the region starts in the device file.
    pub offset: u64,
    /// [`region_flags`].
    pub flags: u32,
    /// The parts of a region with [`region_flags::MMAP`] that can be mapped,
    /// if not all of it: reported in a `VFIO_REGION_INFO_CAP_SPARSE_MMAP`
    /// capability when not empty.
    pub sparse_mmap: KVec<MmapArea>,
}

/// A part of a region that can be mapped ([`RegionInfo::sparse_mmap`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MmapArea {
    /// Its offset from the start of the region.
    pub offset: u64,
    /// Its size in bytes.
    pub size: u64,
}

/// A page of device I/O memory that userspace may map: what
/// [`DeviceOps::fault`] gives for the page of a mapping. Only sources that
/// vouch for the memory make one (for a vDPA device's doorbell,
/// `kernel::vdpa::driver::BusDevice::vq_doorbell`).
///
/// # Invariants
///
/// `pfn` is the page frame of I/O memory (not RAM the kernel manages) that
/// may be mapped into a user process, uncached, for as long as the device it
/// came from is bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoPage {
    pfn: usize,
}

impl IoPage {
    /// # Safety
    ///
    /// `pfn` must satisfy the type invariants.
    pub(crate) unsafe fn from_pfn(pfn: usize) -> Self {
        // INVARIANT: By the safety requirements.
        Self { pfn }
    }
}

/// What `VFIO_DEVICE_GET_IRQ_INFO` reports for one interrupt index.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IrqInfo {
    /// [`irq_flags`].
    pub flags: u32,
    /// The number of interrupts of the index.
    pub count: u32,
}

/// What a `VFIO_DEVICE_SET_IRQS` does to its interrupts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IrqAction {
    /// `VFIO_IRQ_SET_ACTION_MASK`.
    Mask,
    /// `VFIO_IRQ_SET_ACTION_UNMASK`.
    Unmask,
    /// `VFIO_IRQ_SET_ACTION_TRIGGER`.
    Trigger,
}

/// The data of a `VFIO_DEVICE_SET_IRQS`, one entry per interrupt.
#[derive(Debug)]
pub enum IrqData {
    /// `VFIO_IRQ_SET_DATA_NONE`: no data, for `count` interrupts (0 with
    /// [`IrqAction::Trigger`]: tear every trigger of the index down).
    None,
    /// `VFIO_IRQ_SET_DATA_BOOL`: a flag per interrupt.
    Bool(KVec<bool>),
    /// `VFIO_IRQ_SET_DATA_EVENTFD`: a file descriptor per interrupt, `-1` to
    /// tear a trigger down. Not checked: take them with
    /// [`crate::eventfd::EventFd::from_fd`].
    EventFd(KVec<i32>),
}

/// A `VFIO_DEVICE_SET_IRQS` request, checked by the VFIO core's rules
/// (`vfio_set_irqs_validate_and_prepare`) against the index's count: one data
/// type, one action, `start + count` within the index (or `count` 0 with no
/// data), `argsz` large enough for the data.
#[derive(Debug)]
pub struct IrqSet {
    /// The interrupt index.
    pub index: u32,
    /// The first interrupt of the index the request applies to.
    pub start: u32,
    /// The number of interrupts it applies to.
    pub count: u32,
    /// What it does.
    pub action: IrqAction,
    /// Its data.
    pub data: IrqData,
}

/// The operations of an emulated VFIO device.
///
/// Every operation runs in process context and may sleep. `read`, `write` and
/// `ioctl` can run concurrently, on any thread of any process holding the
/// device file, between [`DeviceOps::open_device`] and
/// [`DeviceOps::close_device`].
#[vtable]
pub trait DeviceOps: Sized + Send + Sync + 'static {
    /// The first open of the device (the group path can open a device
    /// several times; this runs once until the last close). Runs with the
    /// device set's lock held; the VFIO core holds a reference to the driver's
    /// module from here to the matching close.
    fn open_device(_dev: &Device<Self>) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// The last close of the device.
    fn close_device(_dev: &Device<Self>) {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Answers `VFIO_DEVICE_GET_INFO` (the abstraction checks `argsz` and
    /// copies the answer out).
    fn info(_dev: &Device<Self>) -> DeviceInfo {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Answers `VFIO_DEVICE_GET_REGION_INFO` for region `index`; an index the
    /// device does not have is `EINVAL`.
    fn region_info(_dev: &Device<Self>, _index: u32) -> Result<RegionInfo> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// `read(2)` (or `pread`) of the device file at `offset`: writes at most
    /// `buf.len()` bytes to `buf` and returns how many.
    fn read(_dev: &Device<Self>, _buf: &mut UserSliceWriter, _offset: u64) -> Result<usize> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// `write(2)` (or `pwrite`) of the device file at `offset`: consumes at
    /// most `buf.len()` bytes of `buf` and returns how many.
    fn write(_dev: &Device<Self>, _buf: &mut UserSliceReader, _offset: u64) -> Result<usize> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Every ioctl the VFIO core does not handle itself (the core handles
    /// `VFIO_DEVICE_GET_REGION_INFO`, `VFIO_DEVICE_FEATURE` and the iommufd
    /// ones; this abstraction handles `VFIO_DEVICE_GET_INFO` when
    /// [`DeviceOps::info`] is implemented). `arg` is the ioctl's argument,
    /// usually a user address.
    fn ioctl(_dev: &Device<Self>, _cmd: u32, _arg: usize) -> Result<isize> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Answers `VFIO_DEVICE_GET_IRQ_INFO` for interrupt index `index`; an
    /// index the device does not have is `EINVAL`. Needed for
    /// [`DeviceOps::set_irqs`], which is checked against the index's count.
    fn irq_info(_dev: &Device<Self>, _index: u32) -> Result<IrqInfo> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// `VFIO_DEVICE_SET_IRQS`, once the abstraction has checked it and read
    /// its data.
    fn set_irqs(_dev: &Device<Self>, _set: IrqSet) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Userspace removed `[iova, iova + length)` from the container or IOAS
    /// the device is attached to. A driver that pinned pages in that range
    /// must unpin them before returning.
    fn dma_unmap(_dev: &Device<Self>, _iova: u64, _length: u64) {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// `mmap(2)` of `vma.end() - vma.start()` bytes of the device file from
    /// `offset` (page aligned): `Ok` accepts it. The abstraction only offers
    /// shared mappings (anything else is `EINVAL` before this is called) and
    /// makes every accepted one a mapping of I/O memory, uncached, never
    /// expanded or dumped, whose pages [`DeviceOps::fault`] provides when
    /// they are touched. Check the offset, the size and the access here
    /// (`vma.readable()`, `vma.writable()`, and clear what must not be added
    /// later with `mprotect`).
    fn mmap(_dev: &Device<Self>, _vma: &VmaNew, _offset: u64) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// The page to map at page `pgoff` of the device file (`offset >>
    /// PAGE_SHIFT` of [`DeviceOps::mmap`]'s offset, plus the page's index in
    /// the mapping), when a mapping accepted by `mmap` is first touched there
    /// or after [`Device::zap_mappings`]; `None` fails the access with
    /// `SIGBUS`. Runs with the process's mmap lock held and may sleep; must
    /// not take a lock that is held across a user copy (a user may pass a
    /// pointer into this very mapping to an ioctl).
    fn fault(_dev: &Device<Self>, _pgoff: u64) -> Option<IoPage> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// The device is being unregistered while userspace holds it open: asks
    /// the user to close it (a VMM unplugs it). Called again, with `count`
    /// growing, until the last file is closed.
    fn request(_dev: &Device<Self>, _count: u32) {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
}

/// An emulated VFIO device with the driver's data `T`.
///
/// # Invariants
///
/// `vdev` is a `struct vfio_device` allocated by `_vfio_alloc_device` with the
/// size of `Self`, its `ops` are `Device::VTABLE` and `data` is
/// initialised. The memory is freed by the VFIO core when the reference count
/// of `vdev.device` drops to zero, after `data` has been dropped.
#[repr(C)]
#[pin_data]
pub struct Device<T: DeviceOps> {
    vdev: Opaque<bindings::vfio_device>,
    #[pin]
    data: T,
}

// SAFETY: The VFIO core may use the device from any thread; `T` is `Send`
// and `Sync` (a bound of `DeviceOps`), and the C part is thread safe.
unsafe impl<T: DeviceOps> Send for Device<T> {}
// SAFETY: As above: every method takes `&self` and the C part does its own
// locking.
unsafe impl<T: DeviceOps> Sync for Device<T> {}

impl<T: DeviceOps> Device<T> {
    const VTABLE: bindings::vfio_device_ops = bindings::vfio_device_ops {
        release: Some(Self::release_callback),
        #[cfg(CONFIG_IOMMUFD)]
        bind_iommufd: Some(bindings::vfio_iommufd_emulated_bind),
        #[cfg(CONFIG_IOMMUFD)]
        unbind_iommufd: Some(bindings::vfio_iommufd_emulated_unbind),
        #[cfg(CONFIG_IOMMUFD)]
        attach_ioas: Some(bindings::vfio_iommufd_emulated_attach_ioas),
        #[cfg(CONFIG_IOMMUFD)]
        detach_ioas: Some(bindings::vfio_iommufd_emulated_detach_ioas),
        open_device: if T::HAS_OPEN_DEVICE {
            Some(Self::open_device_callback)
        } else {
            None
        },
        close_device: if T::HAS_CLOSE_DEVICE {
            Some(Self::close_device_callback)
        } else {
            None
        },
        read: if T::HAS_READ {
            Some(Self::read_callback)
        } else {
            None
        },
        write: if T::HAS_WRITE {
            Some(Self::write_callback)
        } else {
            None
        },
        ioctl: Some(Self::ioctl_callback),
        get_region_info_caps: if T::HAS_REGION_INFO {
            Some(Self::region_info_callback)
        } else {
            None
        },
        dma_unmap: if T::HAS_DMA_UNMAP {
            Some(Self::dma_unmap_callback)
        } else {
            None
        },
        request: if T::HAS_REQUEST {
            Some(Self::request_callback)
        } else {
            None
        },
        mmap: if T::HAS_MMAP && T::HAS_FAULT {
            Some(Self::mmap_callback)
        } else {
            None
        },
        ..pin_init::zeroed()
    };

    /// The VMA operations of the mappings [`DeviceOps::mmap`] accepts.
    const VM_OPS: bindings::vm_operations_struct = bindings::vm_operations_struct {
        fault: Some(Self::fault_callback),
        ..pin_init::zeroed()
    };

    /// The ops while `data` is not initialised yet: no `release`, so that a
    /// failed initialisation frees the memory without dropping `data`.
    const ALLOC_VTABLE: bindings::vfio_device_ops = pin_init::zeroed();

    /// Allocates a device whose parent is `parent` (for an mdev driver, the
    /// mdev) and initialises its data with `data`.
    pub fn new(
        parent: &device::Device<device::Bound>,
        data: impl PinInit<T, Error>,
    ) -> Result<ARef<Self>> {
        // `_vfio_alloc_device` allocates with `kvzalloc`, which aligns to at
        // least 8 bytes.
        const { assert!(core::mem::align_of::<Self>() <= 8) };

        // SAFETY: `parent` is a valid device; `ALLOC_VTABLE` is a static
        // table; the size is that of `Self`, which starts with the
        // `struct vfio_device` (`repr(C)`).
        let raw = from_err_ptr(unsafe {
            bindings::_vfio_alloc_device(
                core::mem::size_of::<Self>(),
                parent.as_raw(),
                &Self::ALLOC_VTABLE,
            )
        })?;
        let this = raw.cast::<Self>();

        // SAFETY: `raw` is a fresh allocation of the size of `Self`, so its
        // `data` field is valid for writes; it is not shared yet, and never
        // moves (the VFIO core frees it in place).
        let data_ptr = unsafe { &raw mut (*this).data };
        // SAFETY: `data_ptr` is valid for writes and pinned (above). On
        // error, `data` is left uninitialised and nothing drops it: the ops
        // still have no `release`.
        if let Err(e) = unsafe { data.__pinned_init(data_ptr) } {
            // SAFETY: `raw` holds the initial reference of its device.
            unsafe { bindings::put_device(&raw mut (*raw).device) };
            return Err(e);
        }
        // SAFETY: `raw` is valid and not visible to anybody else yet, so the
        // ops can change. From now on the release callback drops `data`.
        unsafe { (*raw).ops = &Self::VTABLE };

        // INVARIANT: The device is allocated with the size of `Self`, its
        // ops are `VTABLE`, `data` is initialised.
        // SAFETY: The initial reference of the device becomes the `ARef`.
        Ok(unsafe { ARef::from_raw(NonNull::new_unchecked(this)) })
    }

    /// The driver's data.
    pub fn data(&self) -> Pin<&T> {
        // SAFETY: `data` is structurally pinned: `Self` never moves.
        unsafe { Pin::new_unchecked(&self.data) }
    }

    /// The device's `struct device` (named `vfioN`, child of the parent given
    /// to [`Device::new`]).
    pub fn as_dev(&self) -> &device::Device {
        // SAFETY: `vdev` is valid (type invariant); its `device` lives as long
        // as `self`.
        unsafe { device::Device::from_raw(&raw mut (*self.as_raw()).device) }
    }

    fn as_raw(&self) -> *mut bindings::vfio_device {
        self.vdev.get()
    }

    /// # Safety
    ///
    /// `vdev` must be the `struct vfio_device` of a `Device<T>`, valid for the
    /// returned lifetime.
    unsafe fn from_raw<'a>(vdev: *mut bindings::vfio_device) -> &'a Self {
        // SAFETY: `Self` is `repr(C)` with the `struct vfio_device` at
        // offset 0; by the safety requirements it is a `Device<T>`.
        unsafe { &*vdev.cast::<Self>() }
    }

    /// # Safety
    ///
    /// Called by the VFIO core, once, when the last reference is dropped.
    unsafe extern "C" fn release_callback(vdev: *mut bindings::vfio_device) {
        let this = vdev.cast::<Self>();
        // SAFETY: The release callback is installed only once `data` is
        // initialised, and this is its last use; the core frees the memory
        // after the callback.
        unsafe { core::ptr::drop_in_place(&raw mut (*this).data) };
    }

    /// # Safety
    ///
    /// Called by the VFIO core with a device of this type.
    unsafe extern "C" fn open_device_callback(vdev: *mut bindings::vfio_device) -> c_int {
        // SAFETY: The ops are only installed on a `Device<T>`, valid during the call.
        let dev = unsafe { Self::from_raw(vdev) };
        from_result(|| {
            T::open_device(dev)?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the VFIO core with a device of this type.
    unsafe extern "C" fn close_device_callback(vdev: *mut bindings::vfio_device) {
        // SAFETY: The ops are only installed on a `Device<T>`, valid during the call.
        let dev = unsafe { Self::from_raw(vdev) };
        T::close_device(dev);
    }

    /// # Safety
    ///
    /// Called by the VFIO core with a device of this type; `ppos` is valid.
    unsafe extern "C" fn read_callback(
        vdev: *mut bindings::vfio_device,
        buf: *mut c_char,
        count: usize,
        ppos: *mut bindings::loff_t,
    ) -> isize {
        // SAFETY: The ops are only installed on a `Device<T>`, valid during the call.
        let dev = unsafe { Self::from_raw(vdev) };
        let mut w = UserSlice::new(UserPtr::from_ptr(buf.cast()), count).writer();
        // SAFETY: `ppos` is valid for reads and writes during the call.
        let pos = unsafe { &mut *ppos };
        let Ok(off) = u64::try_from(*pos) else {
            return EINVAL.to_errno() as isize;
        };
        match T::read(dev, &mut w, off) {
            Ok(n) => {
                *pos += n as bindings::loff_t;
                n as isize
            }
            Err(e) => e.to_errno() as isize,
        }
    }

    /// # Safety
    ///
    /// Called by the VFIO core with a device of this type; `ppos` is valid.
    unsafe extern "C" fn write_callback(
        vdev: *mut bindings::vfio_device,
        buf: *const c_char,
        count: usize,
        ppos: *mut bindings::loff_t,
    ) -> isize {
        // SAFETY: The ops are only installed on a `Device<T>`, valid during the call.
        let dev = unsafe { Self::from_raw(vdev) };
        let mut r = UserSlice::new(UserPtr::from_ptr(buf.cast_mut().cast()), count).reader();
        // SAFETY: `ppos` is valid for reads and writes during the call.
        let pos = unsafe { &mut *ppos };
        let Ok(off) = u64::try_from(*pos) else {
            return EINVAL.to_errno() as isize;
        };
        match T::write(dev, &mut r, off) {
            Ok(n) => {
                *pos += n as bindings::loff_t;
                n as isize
            }
            Err(e) => e.to_errno() as isize,
        }
    }

    /// Copies the answer to `VFIO_DEVICE_GET_INFO` out to `arg`, as the
    /// VFIO drivers do: `argsz` below the size up to `num_irqs` is `EINVAL`.
    fn get_info(dev: &Self, arg: usize) -> Result<isize> {
        // `argsz`, `flags`, `num_regions`, `num_irqs`.
        const MINSZ: usize = 16;
        let (mut r, mut w) = UserSlice::new(UserPtr::from_addr(arg), MINSZ).reader_writer();
        let argsz: u32 = r.read()?;
        if (argsz as usize) < MINSZ {
            return Err(EINVAL);
        }
        let info = T::info(dev);
        w.write(&argsz)?;
        w.write(&info.flags)?;
        w.write(&info.num_regions)?;
        w.write(&info.num_irqs)?;
        Ok(0)
    }

    /// Copies the answer to `VFIO_DEVICE_GET_IRQ_INFO` out to `arg`.
    fn get_irq_info(dev: &Self, arg: usize) -> Result<isize> {
        // `argsz`, `flags`, `index`, `count`.
        const MINSZ: usize = 16;
        let (mut r, mut w) = UserSlice::new(UserPtr::from_addr(arg), MINSZ).reader_writer();
        let argsz: u32 = r.read()?;
        let _flags: u32 = r.read()?;
        let index: u32 = r.read()?;
        if (argsz as usize) < MINSZ {
            return Err(EINVAL);
        }
        let info = T::irq_info(dev, index)?;
        w.write(&argsz)?;
        w.write(&info.flags)?;
        w.write(&index)?;
        w.write(&info.count)?;
        Ok(0)
    }

    /// Reads and checks a `VFIO_DEVICE_SET_IRQS` request at `arg`.
    fn read_irq_set(dev: &Self, arg: usize) -> Result<IrqSet> {
        // `argsz`, `flags`, `index`, `start`, `count`, then the data.
        const MINSZ: usize = 20;
        let mut r = UserSlice::new(UserPtr::from_addr(arg), MINSZ).reader();
        let mut hdr = bindings::vfio_irq_set {
            argsz: r.read()?,
            flags: r.read()?,
            index: r.read()?,
            start: r.read()?,
            count: r.read()?,
            ..Default::default()
        };
        let count = T::irq_info(dev, hdr.index)?.count;
        let mut size = 0usize;
        // SAFETY: `hdr` is a valid header on the stack and `size` valid for
        // writes; the function only reads the one and writes the other.
        to_result(unsafe {
            bindings::vfio_set_irqs_validate_and_prepare(
                &mut hdr,
                count as c_int,
                // `irq_info` accepted the index.
                hdr.index.saturating_add(1) as c_int,
                &mut size,
            )
        })?;
        // Exactly one action (the core checks only that no other bit is set).
        let action = match hdr.flags & bindings::VFIO_IRQ_SET_ACTION_TYPE_MASK {
            bindings::VFIO_IRQ_SET_ACTION_MASK => IrqAction::Mask,
            bindings::VFIO_IRQ_SET_ACTION_UNMASK => IrqAction::Unmask,
            bindings::VFIO_IRQ_SET_ACTION_TRIGGER => IrqAction::Trigger,
            _ => return Err(EINVAL),
        };
        let mut data = UserSlice::new(UserPtr::from_addr(arg + MINSZ), size).reader();
        let data = match hdr.flags & bindings::VFIO_IRQ_SET_DATA_TYPE_MASK {
            bindings::VFIO_IRQ_SET_DATA_BOOL => {
                let mut v = KVec::with_capacity(size, GFP_KERNEL)?;
                for _ in 0..size {
                    v.push(data.read::<u8>()? != 0, GFP_KERNEL)?;
                }
                IrqData::Bool(v)
            }
            bindings::VFIO_IRQ_SET_DATA_EVENTFD => {
                let mut v = KVec::with_capacity(hdr.count as usize, GFP_KERNEL)?;
                for _ in 0..hdr.count {
                    v.push(data.read::<i32>()?, GFP_KERNEL)?;
                }
                IrqData::EventFd(v)
            }
            _ => IrqData::None,
        };
        Ok(IrqSet {
            index: hdr.index,
            start: hdr.start,
            count: hdr.count,
            action,
            data,
        })
    }

    /// # Safety
    ///
    /// Called by the VFIO core with a device of this type.
    unsafe extern "C" fn ioctl_callback(
        vdev: *mut bindings::vfio_device,
        cmd: c_uint,
        arg: c_ulong,
    ) -> c_long {
        // SAFETY: The ops are only installed on a `Device<T>`, valid during the call.
        let dev = unsafe { Self::from_raw(vdev) };
        let ret = if T::HAS_INFO && cmd == VFIO_DEVICE_GET_INFO {
            Self::get_info(dev, arg)
        } else if T::HAS_IRQ_INFO && cmd == VFIO_DEVICE_GET_IRQ_INFO {
            Self::get_irq_info(dev, arg)
        } else if T::HAS_IRQ_INFO && T::HAS_SET_IRQS && cmd == VFIO_DEVICE_SET_IRQS {
            Self::read_irq_set(dev, arg).and_then(|set| T::set_irqs(dev, set).map(|()| 0))
        } else if T::HAS_IOCTL {
            T::ioctl(dev, cmd, arg)
        } else {
            Err(ENOTTY)
        };
        match ret {
            Ok(v) => v as c_long,
            Err(e) => e.to_errno() as c_long,
        }
    }

    /// # Safety
    ///
    /// Called by the VFIO core with a device of this type and a valid `info`.
    unsafe extern "C" fn region_info_callback(
        vdev: *mut bindings::vfio_device,
        info: *mut bindings::vfio_region_info,
        caps: *mut bindings::vfio_info_cap,
    ) -> c_int {
        // SAFETY: The ops are only installed on a `Device<T>`, valid during the call.
        let dev = unsafe { Self::from_raw(vdev) };
        // SAFETY: The core passes its own copy of the user's structure,
        // valid for reads and writes during the call.
        let info = unsafe { &mut *info };
        from_result(|| {
            let r = T::region_info(dev, info.index)?;
            info.size = r.size;
            info.offset = r.offset;
            info.flags = r.flags;
            if !r.sparse_mmap.is_empty() {
                // SAFETY: The core passes its capability chain, valid during
                // the call.
                unsafe { add_sparse_mmap(caps, &r.sparse_mmap) }?;
            }
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the VFIO core with a device of this type and a VMA in its
    /// initial setup.
    unsafe extern "C" fn mmap_callback(
        vdev: *mut bindings::vfio_device,
        vma: *mut bindings::vm_area_struct,
    ) -> c_int {
        // SAFETY: The ops are only installed on a `Device<T>`, valid during the call.
        let dev = unsafe { Self::from_raw(vdev) };
        // SAFETY: The VMA is in its initial setup for the duration of the call.
        let new = unsafe { VmaNew::from_raw(vma) };
        from_result(|| {
            // A private mapping of PFNs would be copy-on-write, which a
            // PFN map cannot be.
            if new.flags() & vm_flags::SHARED == 0 {
                return Err(EINVAL);
            }
            // SAFETY: `vma` is valid; `vm_pgoff` is the file offset in pages.
            let pgoff = unsafe { (*vma).vm_pgoff } as u64;
            T::mmap(dev, new, pgoff << PAGE_SHIFT)?;
            new.set_io();
            new.set_dontexpand();
            new.set_dontdump();
            // SAFETY: The VMA is in its initial setup, not shared yet. A shared
            // mapping with VM_IO and without VM_MIXEDMAP may be a PFN map. The
            // ops and their private data (this device) stay valid as long as
            // the VMA: it holds a reference to the device's file, which holds
            // the device.
            unsafe {
                (*vma).__bindgen_anon_2.vm_flags |= vm_flags::PFNMAP;
                (*vma).vm_page_prot = bindings::rvdpa_pgprot_noncached((*vma).vm_page_prot);
                (*vma).vm_ops = &Self::VM_OPS;
                (*vma).vm_private_data = vdev.cast();
            }
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the memory manager with a fault on a VMA set up by
    /// `mmap_callback`.
    unsafe extern "C" fn fault_callback(vmf: *mut bindings::vm_fault) -> bindings::vm_fault_t {
        // SAFETY: `vmf` is valid during the call; its VMA is ours, whose
        // private data is a live `Device<T>` (see `mmap_callback`).
        let (vma, pgoff, address, dev) = unsafe {
            let vma = (*vmf).__bindgen_anon_1.vma;
            (
                vma,
                (*vmf).__bindgen_anon_1.pgoff as u64,
                (*vmf).__bindgen_anon_1.address,
                Self::from_raw((*vma).vm_private_data.cast()),
            )
        };
        match T::fault(dev, pgoff) {
            // SAFETY: The VMA is a shared PFN map (see `mmap_callback`); the
            // page is I/O memory userspace may map (type invariant of
            // `IoPage`); the address is in the VMA.
            Some(page) => unsafe {
                bindings::vmf_insert_pfn(
                    vma,
                    address & !(PAGE_SIZE - 1) as c_ulong,
                    page.pfn as c_ulong,
                )
            },
            None => bindings::vm_fault_reason_VM_FAULT_SIGBUS as bindings::vm_fault_t,
        }
    }

    /// # Safety
    ///
    /// Called by the VFIO core with a device of this type.
    unsafe extern "C" fn request_callback(vdev: *mut bindings::vfio_device, count: c_uint) {
        // SAFETY: The ops are only installed on a `Device<T>`, valid during the call.
        let dev = unsafe { Self::from_raw(vdev) };
        T::request(dev, count);
    }

    /// # Safety
    ///
    /// Called by the VFIO core with a device of this type.
    unsafe extern "C" fn dma_unmap_callback(
        vdev: *mut bindings::vfio_device,
        iova: u64,
        length: u64,
    ) {
        // SAFETY: The ops are only installed on a `Device<T>`, valid during the call.
        let dev = unsafe { Self::from_raw(vdev) };
        T::dma_unmap(dev, iova, length);
    }
}

/// Adds a `VFIO_REGION_INFO_CAP_SPARSE_MMAP` listing `areas` to `caps`.
///
/// # Safety
///
/// `caps` must be a valid capability chain: a `get_region_info_caps` call's,
/// or an empty one whose buffer the caller frees.
unsafe fn add_sparse_mmap(caps: *mut bindings::vfio_info_cap, areas: &[MmapArea]) -> Result {
    type Header = bindings::vfio_region_info_cap_sparse_mmap;
    type Area = bindings::vfio_region_sparse_mmap_area;
    let nr = u32::try_from(areas.len()).map_err(|_| EINVAL)?;
    let hdr = core::mem::size_of::<Header>();
    let size = hdr + areas.len() * core::mem::size_of::<Area>();
    // `u64`s, so that the header and the areas are aligned.
    let mut buf = KVec::from_elem(0u64, size.div_ceil(8), GFP_KERNEL)?;
    let base = buf.as_mut_ptr().cast::<u8>();
    // SAFETY: `buf` has room for the header and the areas, 8-byte
    // aligned, which is enough for both.
    unsafe {
        let h = base.cast::<Header>();
        (*h).header.id = bindings::VFIO_REGION_INFO_CAP_SPARSE_MMAP as u16;
        (*h).header.version = 1;
        (*h).nr_areas = nr;
        let a = base.add(hdr).cast::<Area>();
        for (i, area) in areas.iter().enumerate() {
            a.add(i).write(Area {
                offset: area.offset,
                size: area.size,
            });
        }
    }
    // SAFETY: `caps` is valid (safety requirements); the capability is
    // `size` bytes at `base`, which the core copies.
    to_result(unsafe { bindings::vfio_info_add_capability(caps, base.cast(), size) })
}

impl<T: DeviceOps> Device<T> {
    /// Removes every page of every mapping of the device's files
    /// ([`DeviceOps::mmap`]) from the processes' page tables: the next access
    /// faults again ([`DeviceOps::fault`]). Process context.
    pub fn zap_mappings(&self) {
        // SAFETY: The device is valid; its inode, which every file of the
        // device uses as its mapping, lives as long as the device.
        unsafe { bindings::unmap_mapping_range((*(*self.as_raw()).inode).i_mapping, 0, 0, 1) };
    }

    /// Pins the `npage` pages of the VFIO container or IOAS from `iova` on
    /// (page aligned; at most [`PIN_PAGES_MAX`]), for the device to read
    /// them, and to write them if `write`. They stay pinned until the result
    /// is dropped, which must happen while the device is still open: in
    /// [`DeviceOps::dma_unmap`] for the range, or in
    /// [`DeviceOps::close_device`] at the latest.
    ///
    /// Call it only from operations that run while the device is open
    /// ([`DeviceOps::ioctl`], `read`, `write`). Errors: `EINVAL` for a bad
    /// count or alignment or for a range the container or IOAS does not map
    /// (iommufd: `ENOENT` too), `EPERM` for write access to a read-only
    /// mapping, `ENOMEM`, or the locked-memory limit's error.
    pub fn pin_pages(&self, iova: u64, npage: usize, write: bool) -> Result<PinnedPages<T>> {
        if npage == 0 || npage > PIN_PAGES_MAX || iova % PAGE_SIZE as u64 != 0 {
            return Err(EINVAL);
        }
        let mut pages: KVec<*mut bindings::page> = KVec::with_capacity(npage, GFP_KERNEL)?;
        let prot = bindings::IOMMU_READ | if write { bindings::IOMMU_WRITE } else { 0 };
        // SAFETY: The device is valid and has a `dma_unmap` op (the driver
        // must implement it to unpin); `pages` has room for `npage` entries.
        let ret = unsafe {
            bindings::vfio_pin_pages(
                self.as_raw(),
                iova,
                npage as c_int,
                prot as c_int,
                pages.as_mut_ptr(),
            )
        };
        let pinned = to_result(ret).map(|()| ret as usize)?;
        // SAFETY: The core wrote `pinned` entries.
        unsafe { pages.inc_len(pinned.min(npage)) };
        let mut this = PinnedPages {
            dev: self.into(),
            iova,
            npage: pinned,
            phys: KVec::with_capacity(pinned, GFP_KERNEL)?,
        };
        if pinned != npage {
            // Never: the core pins all or nothing. `this` unpins what it got.
            return Err(EFAULT);
        }
        for p in pages.iter() {
            // SAFETY: Each entry is a page the core pinned for us.
            let pa = unsafe { bindings::rvdpa_page_to_phys(*p) };
            this.phys.push(pa, GFP_KERNEL)?;
        }
        Ok(this)
    }
}

/// Pages of a VFIO container or IOAS pinned for a device with
/// [`Device::pin_pages`]; unpinned when dropped.
///
/// # Invariants
///
/// The `npage` pages from `iova` on were pinned by one `vfio_pin_pages` call
/// on `dev`; `phys` holds their physical addresses, in order, once filled.
pub struct PinnedPages<T: DeviceOps> {
    dev: ARef<Device<T>>,
    iova: u64,
    npage: usize,
    phys: KVec<u64>,
}

impl<T: DeviceOps> PinnedPages<T> {
    /// The IOVA of the first page.
    pub fn iova(&self) -> u64 {
        self.iova
    }

    /// The physical addresses of the pages, in order.
    pub fn phys(&self) -> &[u64] {
        &self.phys
    }
}

impl<T: DeviceOps> Drop for PinnedPages<T> {
    fn drop(&mut self) {
        // SAFETY: These pages were pinned by one call on this device (type
        // invariant) and are unpinned once, here, with the same range.
        unsafe { bindings::vfio_unpin_pages(self.dev.as_raw(), self.iova, self.npage as c_int) };
    }
}

// SAFETY: Instances of `Device` are always reference counted through their
// `struct device`.
unsafe impl<T: DeviceOps> AlwaysRefCounted for Device<T> {
    fn inc_ref(&self) {
        // SAFETY: The existence of a shared reference means the refcount is
        // non-zero.
        unsafe { bindings::get_device(&raw mut (*self.as_raw()).device) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        let vdev = obj.as_ptr().cast::<bindings::vfio_device>();
        // SAFETY: The safety requirements guarantee that the refcount is
        // non-zero; the last put runs the release callback.
        unsafe { bindings::put_device(&raw mut (*vdev).device) };
    }
}

/// The registration of an emulated VFIO device: userspace can find and open
/// it while this exists.
///
/// # Invariants
///
/// `dev` was registered with `vfio_register_emulated_iommu_dev`.
pub struct Registration<T: DeviceOps> {
    dev: ARef<Device<T>>,
    _p: PhantomData<T>,
}

impl<T: DeviceOps> Registration<T> {
    /// Registers `dev` as an emulated-IOMMU device (a group `/dev/vfio/N` of
    /// its own, and a cdev with `CONFIG_VFIO_DEVICE_CDEV`).
    pub fn new_emulated(dev: ARef<Device<T>>) -> Result<Self> {
        // SAFETY: `dev` is a valid, initialised device with our ops.
        to_result(unsafe { bindings::vfio_register_emulated_iommu_dev(dev.as_raw()) })?;
        // INVARIANT: Registered just above.
        Ok(Self {
            dev,
            _p: PhantomData,
        })
    }

    /// The registered device.
    pub fn device(&self) -> &Device<T> {
        &self.dev
    }
}

impl<T: DeviceOps> Drop for Registration<T> {
    /// Unregisters the device: waits, uninterruptibly in the end, until
    /// every file of the device is closed. Drop it only where waiting for
    /// userspace is allowed.
    fn drop(&mut self) {
        // SAFETY: Registered (type invariant), unregistered once here.
        unsafe { bindings::vfio_unregister_group_dev(self.dev.as_raw()) };
    }
}

#[cfg(CONFIG_RUST_VDPA_KUNIT_TEST)]
#[macros::kunit_tests(rust_vfio)]
mod tests {
    //! The encoding of the capabilities this abstraction adds.

    use super::*;

    #[test]
    fn sparse_mmap_capability() -> Result {
        let mut caps = bindings::vfio_info_cap {
            buf: core::ptr::null_mut(),
            size: 0,
        };
        let areas = [
            MmapArea {
                offset: 0,
                size: 4096,
            },
            MmapArea {
                offset: 3 * 4096,
                size: 2 * 4096,
            },
        ];
        // SAFETY: `caps` is an empty chain.
        unsafe { add_sparse_mmap(&mut caps, &areas) }?;
        let mut words = [0u64; 6];
        assert_eq!(caps.size, core::mem::size_of_val(&words));
        // SAFETY: The chain's buffer holds `caps.size` bytes; it is freed
        // once, here, with the allocator that `vfio_info_add_capability`
        // used.
        unsafe {
            core::ptr::copy_nonoverlapping(caps.buf.cast::<u64>(), words.as_mut_ptr(), 6);
            bindings::kfree(caps.buf.cast());
        }
        // id 1 and version 1 (`u16`s), next 0; nr_areas 2, reserved 0; the
        // areas as offset and size.
        assert_eq!(words[0], 1 | 1 << 16);
        assert_eq!(words[1], 2);
        assert_eq!(&words[2..], &[0, 4096, 3 * 4096, 2 * 4096]);
        Ok(())
    }
}
