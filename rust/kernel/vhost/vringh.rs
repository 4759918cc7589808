// SPDX-License-Identifier: GPL-2.0

//! The host side of a split virtqueue, reached through an IOTLB.
//!
//! A software device walks the rings its driver set up with [`Vring`]: it
//! takes the next descriptor chain as lists of readable and writable buffers
//! ([`Kiov`]), pulls data out of the readable ones, pushes data into the
//! writable ones and completes the chain. Every address is an IOVA translated
//! through the ring's [`AddressSpace`]; a chain that points outside the
//! mappings, loops or is otherwise malformed is an error, never an access.
//!
//! C header: [`include/linux/vringh.h`](srctree/include/linux/vringh.h)

use crate::{
    alloc::Flags, bindings, error::to_result, prelude::*, sync::Arc, types::Opaque,
    vhost::iotlb::AddressSpace,
};

/// A list of buffers of one descriptor chain: all its readable, or all its
/// writable, descriptors, as IOVA ranges.
///
/// # Invariants
///
/// `self.0` is a valid `struct vringh_kiov`: zeroed, or filled by vringh.
pub struct Kiov(Opaque<bindings::vringh_kiov>);

// The C list is not self-referential: its array is allocated apart.
impl Unpin for Kiov {}

// SAFETY: The buffer list is plain data owned by this value; vringh allocates
// its array with kmalloc, which may be freed from any thread.
unsafe impl Send for Kiov {}
// SAFETY: Shared references only read the list.
unsafe impl Sync for Kiov {}

impl Default for Kiov {
    fn default() -> Self {
        Self::new()
    }
}

impl Kiov {
    /// Creates an empty list; vringh allocates room as chains need it.
    pub fn new() -> Self {
        // INVARIANT: An all-zero `vringh_kiov` is an empty list with no array.
        Kiov(Opaque::new(pin_init::zeroed()))
    }

    fn as_raw(&self) -> *mut bindings::vringh_kiov {
        self.0.get()
    }

    /// Returns the number of bytes not yet consumed.
    pub fn len(&self) -> usize {
        // SAFETY: By the type invariants the fields are valid; `iov[i..used]`
        // are initialised entries of the array vringh allocated.
        unsafe {
            let k = &*self.as_raw();
            (k.i..k.used)
                .map(|n| (*k.iov.add(n as usize)).iov_len)
                .sum()
        }
    }

    /// Returns true when every byte was consumed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Returns the number of buffers in the list.
    pub fn count(&self) -> usize {
        // SAFETY: By the type invariants the fields are valid.
        unsafe { (*self.as_raw()).used as usize }
    }

    /// Skips `len` bytes (at most what is left).
    pub fn advance(&mut self, len: usize) {
        let len = len.min(self.len());
        // SAFETY: The list is valid and `len` does not go past its end.
        unsafe { bindings::vringh_kiov_advance(self.as_raw(), len) }
    }
}

impl Drop for Kiov {
    fn drop(&mut self) {
        // SAFETY: The list is valid; cleanup frees the array if vringh
        // allocated it and leaves an empty list.
        unsafe { bindings::vringh_kiov_cleanup(self.as_raw()) }
    }
}

/// The host side of one split virtqueue, translated through an IOTLB.
///
/// # Invariants
///
/// - `vrh` is a valid `struct vringh`.
/// - When `space` is `Some`, `vrh` translates through that address space,
///   which the `Arc` keeps alive.
/// - `ready` is true only after a successful `init` with an address space
///   set, so the C ring pointers are set.
pub struct Vring {
    vrh: Opaque<bindings::vringh>,
    space: Option<Arc<AddressSpace>>,
    ready: bool,
}

// The C ring is not self-referential: it points to IOVAs and to the IOTLB.
impl Unpin for Vring {}

// SAFETY: The ring is used through `&mut self` only; the IOTLB it points to is
// kept alive by `space` and locked by vringh for every translation.
unsafe impl Send for Vring {}
// SAFETY: Shared references only read the indices.
unsafe impl Sync for Vring {}

impl Default for Vring {
    fn default() -> Self {
        Self::new()
    }
}

impl Vring {
    /// Creates a ring that is not set up: every ring operation fails with
    /// `ENODEV` until [`Vring::set_address_space`] and [`Vring::init`].
    pub fn new() -> Self {
        Vring {
            vrh: Opaque::new(pin_init::zeroed()),
            space: None,
            ready: false,
        }
    }

    fn as_raw(&self) -> *mut bindings::vringh {
        self.vrh.get()
    }

    /// Makes the ring translate through `space` from now on.
    pub fn set_address_space(&mut self, space: Arc<AddressSpace>) {
        let (iotlb, lock) = space.as_raw();
        // SAFETY: `iotlb` and `lock` are initialised and live as long as
        // `space`, which is stored in `self` below and so outlives every use.
        unsafe { bindings::vringh_set_iotlb(self.as_raw(), iotlb, lock) };
        // INVARIANT: `vrh` now translates through `space`, kept here.
        self.space = Some(space);
    }

    /// Returns the address space the ring translates through.
    pub fn address_space(&self) -> Option<&Arc<AddressSpace>> {
        self.space.as_ref()
    }

    /// Sets the ring up: `num` entries (a power of two, at most 32768) with
    /// its descriptor table, driver (avail) and device (used) areas at the
    /// given IOVAs. The indices start at 0.
    ///
    /// Fails with `ENODEV` without an address space and `EINVAL` for a bad
    /// size.
    pub fn init(&mut self, features: u64, num: u32, desc: u64, avail: u64, used: u64) -> Result {
        if self.space.is_none() {
            return Err(ENODEV);
        }
        if num == 0 || num > 32768 || !num.is_power_of_two() {
            return Err(EINVAL);
        }
        self.ready = false;
        // SAFETY: `vrh` is valid. For the IOTLB flavour the area pointers are
        // IOVAs that vringh translates before every access, never dereferences.
        to_result(unsafe {
            bindings::vringh_init_iotlb(
                self.as_raw(),
                features,
                num,
                true,
                desc as usize as *mut bindings::vring_desc,
                avail as usize as *mut bindings::vring_avail,
                used as usize as *mut bindings::vring_used,
            )
        })?;
        // INVARIANT: Initialised with an address space set.
        self.ready = true;
        Ok(())
    }

    /// Makes the ring unusable until the next [`Vring::init`].
    pub fn stop(&mut self) {
        self.ready = false;
    }

    /// Returns true if the ring is set up.
    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// Returns the number of entries.
    pub fn num(&self) -> u32 {
        // SAFETY: `vrh` is valid.
        unsafe { (*self.as_raw()).vring.num }
    }

    /// Returns the index of the next available entry the device will take.
    pub fn last_avail_idx(&self) -> u16 {
        // SAFETY: `vrh` is valid.
        unsafe { (*self.as_raw()).last_avail_idx }
    }

    /// Sets the index of the next available entry the device will take.
    pub fn set_last_avail_idx(&mut self, idx: u16) {
        // SAFETY: `vrh` is valid and exclusively borrowed.
        unsafe { (*self.as_raw()).last_avail_idx = idx }
    }

    /// Returns the index of the next used entry the device will fill.
    pub fn last_used_idx(&self) -> u16 {
        // SAFETY: `vrh` is valid.
        let (last, completed) =
            unsafe { ((*self.as_raw()).last_used_idx, (*self.as_raw()).completed) };
        // vringh counts completions since the last notification check apart;
        // the used index the driver sees includes them.
        last.wrapping_add(completed as u16)
    }

    /// Sets the index of the next used entry the device will fill.
    pub fn set_last_used_idx(&mut self, idx: u16) {
        // SAFETY: `vrh` is valid and exclusively borrowed.
        unsafe {
            (*self.as_raw()).last_used_idx = idx;
            (*self.as_raw()).completed = 0;
        }
    }

    fn check_ready(&self) -> Result {
        if self.ready {
            Ok(())
        } else {
            Err(ENODEV)
        }
    }

    /// Takes the next available descriptor chain, if any: its readable
    /// buffers go to `riov` and its writable ones to `wiov`. Returns the
    /// chain's head, to [`Vring::complete`] it.
    ///
    /// A malformed chain (a loop, an address outside the mappings, a bad
    /// indirect table) is an error.
    pub fn getdesc(&mut self, riov: &mut Kiov, wiov: &mut Kiov, gfp: Flags) -> Result<Option<u16>> {
        self.check_ready()?;
        let mut head = 0u16;
        // SAFETY: The ring is initialised with an address space (checked
        // above); `riov`, `wiov` and `head` are valid for writes.
        let ret = unsafe {
            bindings::vringh_getdesc_iotlb(
                self.as_raw(),
                riov.as_raw(),
                wiov.as_raw(),
                &mut head,
                gfp.as_raw(),
            )
        };
        match ret {
            0 => Ok(None),
            r if r > 0 => Ok(Some(head)),
            r => Err(Error::from_errno(r)),
        }
    }

    /// Copies bytes out of the readable buffers into `dst`, consuming them.
    /// Returns how many were copied (less than `dst.len()` at the end).
    pub fn pull(&mut self, riov: &mut Kiov, dst: &mut [u8]) -> Result<usize> {
        self.check_ready()?;
        // SAFETY: The ring is initialised; `dst` is valid for `dst.len()`
        // bytes of writes.
        let r = unsafe {
            bindings::vringh_iov_pull_iotlb(
                self.as_raw(),
                riov.as_raw(),
                dst.as_mut_ptr().cast(),
                dst.len(),
            )
        };
        if r < 0 {
            Err(Error::from_errno(r as i32))
        } else {
            Ok(r as usize)
        }
    }

    /// Copies `src` into the writable buffers, consuming them. Returns how
    /// many bytes were copied (less than `src.len()` if they are full).
    pub fn push(&mut self, wiov: &mut Kiov, src: &[u8]) -> Result<usize> {
        self.check_ready()?;
        // SAFETY: The ring is initialised; `src` is valid for `src.len()`
        // bytes of reads.
        let r = unsafe {
            bindings::vringh_iov_push_iotlb(
                self.as_raw(),
                wiov.as_raw(),
                src.as_ptr().cast(),
                src.len(),
            )
        };
        if r < 0 {
            Err(Error::from_errno(r as i32))
        } else {
            Ok(r as usize)
        }
    }

    /// Returns the chain `head` to the driver, with `len` bytes written.
    pub fn complete(&mut self, head: u16, len: u32) -> Result {
        self.check_ready()?;
        // SAFETY: The ring is initialised.
        to_result(unsafe { bindings::vringh_complete_iotlb(self.as_raw(), head, len) })
    }

    /// Returns true if the driver wants to be notified of the chains
    /// completed since the last call.
    pub fn need_notify(&mut self) -> Result<bool> {
        self.check_ready()?;
        // SAFETY: The ring is initialised.
        let r = unsafe { bindings::vringh_need_notify_iotlb(self.as_raw()) };
        if r < 0 {
            Err(Error::from_errno(r))
        } else {
            Ok(r > 0)
        }
    }
}

#[cfg(CONFIG_RUST_VDPA_KUNIT_TEST)]
#[macros::kunit_tests(rust_vhost_vringh)]
mod tests {
    //! A driver's side of a split ring, written by hand in kernel memory that
    //! an [`AddressSpace`] maps at [`IOVA`], read back through [`Vring`].

    use super::*;
    use crate::vhost::iotlb::Perm;

    const IOVA: u64 = 0x10_0000;
    const SIZE: usize = 4 * 4096;
    const NUM: u32 = 8;
    const DESC: usize = 0;
    const AVAIL: usize = 0x400;
    const USED: usize = 0x800;
    const BUFS: usize = 0x1000;
    const F_NEXT: u16 = 1;
    const F_WRITE: u16 = 2;
    const F_INDIRECT: u16 = 4;

    /// Physically contiguous memory holding a ring and its buffers.
    struct Mem {
        buf: KVec<u8>,
        space: Arc<AddressSpace>,
        vring: Vring,
    }

    impl Mem {
        /// Maps `map` bytes of fresh memory at [`IOVA`] and sets a ring of
        /// [`NUM`] entries up in it.
        fn new(map: u64) -> Result<Self> {
            let mut buf = KVec::from_elem(0u8, SIZE, GFP_KERNEL)?;
            // SAFETY: `buf` is kmalloc memory, in the kernel's direct map.
            let phys = unsafe { bindings::virt_to_phys(buf.as_mut_ptr().cast()) };
            let space = AddressSpace::new(16)?;
            space
                .lock()
                .add_range(IOVA, IOVA + map - 1, phys, Perm::RW)?;
            let mut vring = Vring::new();
            vring.set_address_space(space.clone());
            let at = |off: usize| IOVA + off as u64;
            vring.init(1 << 32, NUM, at(DESC), at(AVAIL), at(USED))?;
            Ok(Mem { buf, space, vring })
        }

        fn put(&mut self, off: usize, bytes: &[u8]) {
            assert!(off + bytes.len() <= self.buf.len());
            for (i, b) in bytes.iter().enumerate() {
                // SAFETY: In bounds (asserted above). Volatile: vringh
                // reads the same memory through its own mapping.
                unsafe { self.buf.as_mut_ptr().add(off + i).write_volatile(*b) };
            }
        }

        fn get(&self, off: usize, len: usize) -> KVec<u8> {
            assert!(off + len <= self.buf.len());
            let mut v = KVec::new();
            for i in 0..len {
                // SAFETY: In bounds (asserted above). Volatile: vringh
                // writes the same memory through its own mapping.
                let b = unsafe { self.buf.as_ptr().add(off + i).read_volatile() };
                assert!(v.push(b, GFP_KERNEL).is_ok());
            }
            v
        }

        /// Writes descriptor `i` of a table at `table`.
        fn desc(&mut self, table: usize, i: u16, addr: u64, len: u32, flags: u16, next: u16) {
            let off = table + 16 * i as usize;
            self.put(off, &addr.to_le_bytes());
            self.put(off + 8, &len.to_le_bytes());
            self.put(off + 12, &flags.to_le_bytes());
            self.put(off + 14, &next.to_le_bytes());
        }

        /// Makes the chain at `head` available as entry `slot`.
        fn avail(&mut self, slot: u16, head: u16) {
            self.put(
                AVAIL + 4 + 2 * (slot as usize % NUM as usize),
                &head.to_le_bytes(),
            );
            self.put(AVAIL + 2, &(slot + 1).to_le_bytes());
        }

        fn used(&self, slot: u16) -> (u16, u32, u32) {
            let idx = self.get(USED + 2, 2);
            let e = self.get(USED + 4 + 8 * (slot as usize % NUM as usize), 8);
            (
                u16::from_le_bytes([idx[0], idx[1]]),
                u32::from_le_bytes([e[0], e[1], e[2], e[3]]),
                u32::from_le_bytes([e[4], e[5], e[6], e[7]]),
            )
        }
    }

    fn iova(off: usize) -> u64 {
        IOVA + off as u64
    }

    #[test]
    fn chain_round_trip() -> Result {
        let mut m = Mem::new(SIZE as u64)?;
        let (mut r, mut w) = (Kiov::new(), Kiov::new());
        assert_eq!(m.vring.getdesc(&mut r, &mut w, GFP_KERNEL), Ok(None));

        m.put(BUFS, b"request!");
        m.desc(DESC, 3, iova(BUFS), 8, F_NEXT, 5);
        m.desc(DESC, 5, iova(BUFS + 0x100), 16, F_WRITE, 0);
        m.avail(0, 3);
        assert_eq!(m.vring.getdesc(&mut r, &mut w, GFP_KERNEL), Ok(Some(3)));
        assert_eq!((r.len(), r.count(), w.len(), w.count()), (8, 1, 16, 1));

        let mut got = [0u8; 12];
        assert_eq!(m.vring.pull(&mut r, &mut got), Ok(8));
        assert_eq!(&got[..8], b"request!");
        assert_eq!(m.vring.push(&mut w, b"reply"), Ok(5));
        m.vring.complete(3, 5)?;
        assert_eq!(m.used(0), (1, 3, 5));
        assert_eq!(&m.get(BUFS + 0x100, 6)[..], b"reply\0");
        assert_eq!(m.vring.last_avail_idx(), 1);
        assert_eq!(m.vring.last_used_idx(), 1);
        assert_eq!(m.vring.getdesc(&mut r, &mut w, GFP_KERNEL), Ok(None));
        Ok(())
    }

    #[test]
    fn indirect_table() -> Result {
        let mut m = Mem::new(SIZE as u64)?;
        let table = BUFS + 0x800;
        m.desc(table, 0, iova(BUFS), 4, F_NEXT, 1);
        m.desc(table, 1, iova(BUFS + 4), 4, F_NEXT, 2);
        m.desc(table, 2, iova(BUFS + 0x100), 32, F_WRITE, 0);
        m.desc(DESC, 0, iova(table), 48, F_INDIRECT, 0);
        m.avail(0, 0);
        let (mut r, mut w) = (Kiov::new(), Kiov::new());
        assert_eq!(m.vring.getdesc(&mut r, &mut w, GFP_KERNEL), Ok(Some(0)));
        assert_eq!((r.len(), r.count(), w.len(), w.count()), (8, 2, 32, 1));
        Ok(())
    }

    #[test]
    fn descriptor_loop_is_an_error() -> Result {
        let mut m = Mem::new(SIZE as u64)?;
        m.desc(DESC, 0, iova(BUFS), 4, F_NEXT, 1);
        m.desc(DESC, 1, iova(BUFS), 4, F_NEXT, 0);
        m.avail(0, 0);
        let (mut r, mut w) = (Kiov::new(), Kiov::new());
        assert!(m.vring.getdesc(&mut r, &mut w, GFP_KERNEL).is_err());
        Ok(())
    }

    #[test]
    fn loop_through_an_indirect_descriptor_is_an_error() -> Result {
        // The ring's descriptor 2 points to a one-entry table and chains to
        // itself: each turn adds the table's buffer. The indirect descriptor
        // counts toward the loop limit, so this fails after the ring's size.
        let mut m = Mem::new(SIZE as u64)?;
        let table = BUFS + 0x800;
        m.desc(table, 0, iova(BUFS), 4, 0, 0);
        m.desc(DESC, 2, iova(table), 16, F_INDIRECT | F_NEXT, 2);
        m.avail(0, 2);
        let (mut r, mut w) = (Kiov::new(), Kiov::new());
        let eloop = Error::from_errno(-(bindings::ELOOP as i32));
        assert_eq!(m.vring.getdesc(&mut r, &mut w, GFP_KERNEL), Err(eloop));
        assert!(r.count() <= NUM as usize);
        Ok(())
    }

    #[test]
    fn indirect_table_too_large_to_chain_is_an_error() -> Result {
        // More than 65536 entries cannot be chained with 16-bit indices.
        let mut m = Mem::new(SIZE as u64)?;
        m.desc(DESC, 0, iova(BUFS), 16 * 65537, F_INDIRECT, 0);
        m.avail(0, 0);
        let (mut r, mut w) = (Kiov::new(), Kiov::new());
        assert_eq!(m.vring.getdesc(&mut r, &mut w, GFP_KERNEL), Err(EINVAL));
        assert_eq!(r.count(), 0);
        Ok(())
    }

    #[test]
    fn readable_after_writable_is_an_error() -> Result {
        let mut m = Mem::new(SIZE as u64)?;
        m.desc(DESC, 0, iova(BUFS), 4, F_WRITE | F_NEXT, 1);
        m.desc(DESC, 1, iova(BUFS + 8), 4, 0, 0);
        m.avail(0, 0);
        let (mut r, mut w) = (Kiov::new(), Kiov::new());
        assert_eq!(m.vring.getdesc(&mut r, &mut w, GFP_KERNEL), Err(EINVAL));
        Ok(())
    }

    #[test]
    fn head_out_of_range_is_an_error() -> Result {
        let mut m = Mem::new(SIZE as u64)?;
        m.avail(0, NUM as u16);
        let (mut r, mut w) = (Kiov::new(), Kiov::new());
        assert_eq!(m.vring.getdesc(&mut r, &mut w, GFP_KERNEL), Err(EINVAL));
        Ok(())
    }

    #[test]
    fn unmapped_buffer_is_never_touched() -> Result {
        // Only the ring pages are mapped: the buffer page is not.
        let mut m = Mem::new(BUFS as u64)?;
        m.put(BUFS, b"secret");
        m.desc(DESC, 0, iova(BUFS), 6, 0, 0);
        m.avail(0, 0);
        let (mut r, mut w) = (Kiov::new(), Kiov::new());
        assert_eq!(m.vring.getdesc(&mut r, &mut w, GFP_KERNEL), Ok(Some(0)));
        let mut got = [0u8; 6];
        assert!(m.vring.pull(&mut r, &mut got).is_err());
        assert_eq!(got, [0u8; 6]);
        Ok(())
    }

    #[test]
    fn unmapped_ring_is_an_error() -> Result {
        let mut m = Mem::new(SIZE as u64)?;
        m.desc(DESC, 0, iova(BUFS), 6, 0, 0);
        m.avail(0, 0);
        m.space.lock().reset();
        let (mut r, mut w) = (Kiov::new(), Kiov::new());
        assert!(m.vring.getdesc(&mut r, &mut w, GFP_KERNEL).is_err());
        Ok(())
    }

    #[test]
    fn not_set_up_is_enodev() -> Result {
        let mut v = Vring::new();
        let (mut r, mut w) = (Kiov::new(), Kiov::new());
        assert_eq!(v.getdesc(&mut r, &mut w, GFP_KERNEL), Err(ENODEV));
        assert_eq!(v.init(0, 8, 0, 0, 0), Err(ENODEV));
        v.set_address_space(AddressSpace::new(1)?);
        assert_eq!(v.init(0, 100, 0, 0, 0), Err(EINVAL));
        assert_eq!(v.init(0, 65536, 0, 0, 0), Err(EINVAL));
        assert_eq!(v.complete(0, 0), Err(ENODEV));
        Ok(())
    }

    #[test]
    fn stopped_ring_is_enodev_and_state_is_kept() -> Result {
        let mut m = Mem::new(SIZE as u64)?;
        m.vring.set_last_avail_idx(5);
        m.vring.stop();
        let (mut r, mut w) = (Kiov::new(), Kiov::new());
        assert_eq!(m.vring.getdesc(&mut r, &mut w, GFP_KERNEL), Err(ENODEV));
        assert_eq!(m.vring.last_avail_idx(), 5);
        Ok(())
    }
}
