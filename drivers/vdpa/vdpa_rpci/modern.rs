// SPDX-License-Identifier: GPL-2.0

//! The virtio-pci modern transport (virtio 1.x, section 4.1): the vendor
//! capabilities that locate the common config, notification, ISR and device
//! config regions in the function's BARs, and typed access to them.
//!
//! Every access goes through the BAR's `Devres`, so after a surprise removal
//! (the function unbound under us) it fails with `ENODEV` instead of
//! touching an unmapped region.

use kernel::{
    device::{
        Bound,
        Core, //
    },
    devres::Devres,
    io::Io,
    pci,
    prelude::*,
    sync::Mutex,
    time::{
        delay::fsleep,
        Delta, //
    },
    virtio::pci::{
        cap,
        common,
        CAP_COMMON_CFG,
        CAP_DEVICE_CFG,
        CAP_ISR_CFG,
        CAP_NOTIFY_CFG, //
    },
};

/// How long a reset may take before the device is declared broken.
const RESET_TIMEOUT_MS: u32 = 1000;

/// A region of one BAR.
#[derive(Clone, Copy, Debug)]
struct Region {
    /// Index into [`Transport::bars`].
    slot: usize,
    offset: usize,
    len: usize,
}

/// A virtqueue's doorbell.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Doorbell {
    /// Offset of the doorbell in the notification region.
    offset: usize,
    /// Physical address, for userspace to map.
    pub(crate) phys: u64,
    /// The bytes from `phys` that are the queue's, all inside the
    /// notification region: the multiplier when the region holds that much,
    /// else only the register itself.
    pub(crate) size: usize,
}

/// The mapped regions of a virtio-pci modern function.
#[pin_data]
pub(crate) struct Transport {
    /// The BARs the regions live in: (BAR number, mapping).
    bars: KVec<(u8, Devres<pci::Bar<'static>>)>,
    common: Region,
    notify: Region,
    device: Option<Region>,
    notify_multiplier: u32,
    notify_phys: u64,
    /// Serialises `queue_select` with the per-queue fields it selects, and
    /// the feature windows with their selectors.
    #[pin]
    select: Mutex<()>,
}

/// A virtio vendor capability, as read from config space.
#[derive(Clone, Copy)]
struct Cap {
    cfg_type: u8,
    bar: u8,
    offset: u32,
    length: u32,
    /// The capability's position in config space.
    pos: usize,
    /// Whether its BAR is in I/O space (which this driver does not map).
    io: bool,
}

/// Returns the function's virtio vendor capabilities, in list order.
fn virtio_caps(pdev: &pci::Device<Bound>) -> Result<KVec<Cap>> {
    let cfg = pdev.config_space();
    let mut caps = KVec::new();
    for pos in pdev.capabilities(pci::CapabilityId::VENDOR) {
        if usize::from(cfg.try_read8(pos + cap::LEN)?) < cap::SIZE {
            continue;
        }
        let bar = cfg.try_read8(pos + cap::BAR)?;
        caps.push(
            Cap {
                cfg_type: cfg.try_read8(pos + cap::CFG_TYPE)?,
                bar,
                offset: cfg.try_read32(pos + cap::OFFSET)?,
                length: cfg.try_read32(pos + cap::LENGTH)?,
                pos,
                io: bar < 6 && pdev.resource_is_io(bar.into())?,
            },
            GFP_KERNEL,
        )?;
    }
    Ok(caps)
}

impl Transport {
    /// Finds and maps the regions of a virtio-pci modern function.
    pub(crate) fn probe(pdev: &pci::Device<Core<'_>>) -> Result<impl PinInit<Self>> {
        let caps = virtio_caps(pdev)?;
        let mut bars: KVec<(u8, Devres<pci::Bar<'static>>)> = KVec::new();
        let mut region = |cfg_type: u8, min_len: usize| -> Result<Option<(Region, Cap)>> {
            // The first capability of a type the driver can use wins (4.1.4):
            // one in a memory BAR (a function may offer a structure in an
            // I/O BAR too, QEMU's `modern-pio-notify` does, and list it
            // first; the I/O accessors this driver has are for memory).
            let of_type = |c: &&Cap| c.cfg_type == cfg_type && c.bar < 6;
            let Some(&cap) = caps.iter().filter(of_type).find(|c| !c.io) else {
                if caps.iter().any(|c| of_type(&c)) {
                    dev_err!(
                        pdev.as_ref(),
                        "virtio capability {} is only in an I/O space BAR, which is not supported\n",
                        cfg_type
                    );
                    return Err(ENODEV);
                }
                return Ok(None);
            };
            let (offset, len) = (cap.offset as usize, cap.length as usize);
            let bar_len = pdev.resource_len(cap.bar.into())? as usize;
            if len < min_len || offset.checked_add(len).is_none_or(|end| end > bar_len) {
                dev_err!(
                    pdev.as_ref(),
                    "virtio capability {} does not fit its BAR\n",
                    cfg_type
                );
                return Err(ENODEV);
            }
            let slot = match bars.iter().position(|(n, _)| *n == cap.bar) {
                Some(slot) => slot,
                None => {
                    let bar = pdev.iomap_region(cap.bar.into(), c"vdpa_rpci")?;
                    bars.push((cap.bar, bar.into_devres()?), GFP_KERNEL)?;
                    bars.len() - 1
                }
            };
            Ok(Some((Region { slot, offset, len }, cap)))
        };
        let Some((common, _)) = region(CAP_COMMON_CFG, common::LEN)? else {
            dev_err!(
                pdev.as_ref(),
                "not a virtio-pci modern function (no common config)\n"
            );
            return Err(ENODEV);
        };
        let Some((notify, ncap)) = region(CAP_NOTIFY_CFG, 2)? else {
            dev_err!(pdev.as_ref(), "no virtio notification capability\n");
            return Err(ENODEV);
        };
        let (npos, nbar, noff) = (ncap.pos, ncap.bar, ncap.offset);
        // `struct virtio_pci_notify_cap` (4.1.4.4) has the multiplier after
        // the generic fields: a shorter capability has none to read.
        if usize::from(pdev.config_space().try_read8(npos + cap::LEN)?) < cap::NOTIFY_SIZE {
            dev_err!(
                pdev.as_ref(),
                "the virtio notification capability is too short for its multiplier\n"
            );
            return Err(ENODEV);
        }
        // The ISR region must exist (4.1.4.5) even though MSI-X makes it unused.
        if region(CAP_ISR_CFG, 1)?.is_none() {
            dev_err!(pdev.as_ref(), "no virtio ISR capability\n");
            return Err(ENODEV);
        }
        let device = region(CAP_DEVICE_CFG, 0)?.map(|(r, _)| r);
        let notify_multiplier = pdev
            .config_space()
            .try_read32(npos + cap::NOTIFY_MULTIPLIER)?;
        let notify_phys = pdev.resource_start(nbar.into())? + u64::from(noff);
        Ok(pin_init!(Transport {
            bars,
            common,
            notify,
            device,
            notify_multiplier,
            notify_phys,
            select <- kernel::new_mutex!(()),
        }))
    }

    /// Runs `f` on the BAR of `r`, at the region offset of `off` after
    /// checking that `size` bytes there are inside the region.
    fn at<R>(
        &self,
        r: Region,
        off: usize,
        size: usize,
        f: impl FnOnce(&pci::Bar<'static>, usize) -> Result<R>,
    ) -> Result<R> {
        if off.checked_add(size).is_none_or(|end| end > r.len) {
            return Err(EINVAL);
        }
        let bar = self.bars[r.slot].1.try_access().ok_or(ENODEV)?;
        f(&bar, r.offset + off)
    }

    fn read8(&self, off: usize) -> Result<u8> {
        self.at(self.common, off, 1, |b, o| b.try_read8(o))
    }

    fn read16(&self, off: usize) -> Result<u16> {
        self.at(self.common, off, 2, |b, o| b.try_read16(o))
    }

    fn read32(&self, off: usize) -> Result<u32> {
        self.at(self.common, off, 4, |b, o| b.try_read32(o))
    }

    fn write8(&self, off: usize, v: u8) -> Result {
        self.at(self.common, off, 1, |b, o| b.try_write8(v, o))
    }

    fn write16(&self, off: usize, v: u16) -> Result {
        self.at(self.common, off, 2, |b, o| b.try_write16(v, o))
    }

    fn write32(&self, off: usize, v: u32) -> Result {
        self.at(self.common, off, 4, |b, o| b.try_write32(v, o))
    }

    /// Writes a 64-bit field as two 32-bit halves, low first (4.1.3.1).
    fn write64(&self, off: usize, v: u64) -> Result {
        self.write32(off, v as u32)?;
        self.write32(off + 4, (v >> 32) as u32)
    }

    /// Reads a 64-bit feature word through its selector and window.
    fn features(&self, select: usize, window: usize) -> Result<u64> {
        let _g = self.select.lock();
        self.write32(select, 0)?;
        let lo = self.read32(window)?;
        self.write32(select, 1)?;
        let hi = self.read32(window)?;
        Ok(u64::from(lo) | (u64::from(hi) << 32))
    }

    /// The features the device offers.
    pub(crate) fn device_features(&self) -> Result<u64> {
        self.features(common::DFSELECT, common::DF)
    }

    /// The features the driver accepted, as the device holds them.
    pub(crate) fn driver_features(&self) -> Result<u64> {
        self.features(common::GFSELECT, common::GF)
    }

    /// Writes the features the driver accepted.
    pub(crate) fn set_driver_features(&self, f: u64) -> Result {
        let _g = self.select.lock();
        self.write32(common::GFSELECT, 0)?;
        self.write32(common::GF, f as u32)?;
        self.write32(common::GFSELECT, 1)?;
        self.write32(common::GF, (f >> 32) as u32)
    }

    /// The number of virtqueues.
    pub(crate) fn num_queues(&self) -> Result<u16> {
        self.read16(common::NUMQ)
    }

    /// The device status; a removed device reads as all ones, like a
    /// function that fell off the bus.
    pub(crate) fn status(&self) -> u8 {
        self.read8(common::STATUS).unwrap_or(0xff)
    }

    /// Writes the device status.
    pub(crate) fn set_status(&self, s: u8) -> Result {
        self.write8(common::STATUS, s)
    }

    /// Resets the device and waits until it reads back 0 (4.1.4.3.2), for
    /// at most a second.
    pub(crate) fn reset(&self) -> Result {
        self.set_status(0)?;
        for _ in 0..RESET_TIMEOUT_MS {
            match self.read8(common::STATUS)? {
                0 => return Ok(()),
                _ => fsleep(Delta::from_millis(1)),
            }
        }
        Err(ETIMEDOUT)
    }

    /// The config generation.
    pub(crate) fn generation(&self) -> Result<u8> {
        self.read8(common::CFGGENERATION)
    }

    /// Gives config changes the MSI-X vector `v`; fails if the device
    /// refuses it.
    pub(crate) fn set_config_vector(&self, v: u16) -> Result {
        self.write16(common::MSIX, v)?;
        if self.read16(common::MSIX)? != v {
            return Err(EIO);
        }
        Ok(())
    }

    /// Runs `f` with queue `q` selected.
    fn with_queue<R>(&self, q: u16, f: impl FnOnce() -> Result<R>) -> Result<R> {
        let _g = self.select.lock();
        self.write16(common::Q_SELECT, q)?;
        f()
    }

    /// The size of queue `q` (the maximum until the driver sets it).
    pub(crate) fn queue_size(&self, q: u16) -> Result<u16> {
        self.with_queue(q, || self.read16(common::Q_SIZE))
    }

    /// Sets the size of queue `q`.
    pub(crate) fn set_queue_size(&self, q: u16, n: u16) -> Result {
        self.with_queue(q, || self.write16(common::Q_SIZE, n))
    }

    /// Sets the addresses of queue `q`'s areas.
    pub(crate) fn set_queue_address(&self, q: u16, desc: u64, avail: u64, used: u64) -> Result {
        self.with_queue(q, || {
            self.write64(common::Q_DESC, desc)?;
            self.write64(common::Q_AVAIL, avail)?;
            self.write64(common::Q_USED, used)
        })
    }

    /// Whether queue `q` is enabled.
    pub(crate) fn queue_enabled(&self, q: u16) -> Result<bool> {
        self.with_queue(q, || Ok(self.read16(common::Q_ENABLE)? == 1))
    }

    /// Enables queue `q` (a modern device cannot disable one but by reset).
    pub(crate) fn enable_queue(&self, q: u16) -> Result {
        self.with_queue(q, || self.write16(common::Q_ENABLE, 1))
    }

    /// Gives queue `q` the MSI-X vector `v`; fails if the device refuses it.
    pub(crate) fn set_queue_vector(&self, q: u16, v: u16) -> Result {
        self.with_queue(q, || {
            self.write16(common::Q_MSIX, v)?;
            if self.read16(common::Q_MSIX)? != v {
                return Err(EIO);
            }
            Ok(())
        })
    }

    /// The doorbell of queue `q` (4.1.4.4): inside the notification region,
    /// with room for a 32-bit write of notification data.
    pub(crate) fn doorbell(&self, q: u16) -> Result<Doorbell> {
        let off = self.with_queue(q, || self.read16(common::Q_NOFF))?;
        let offset = usize::from(off)
            .checked_mul(self.notify_multiplier as usize)
            .ok_or(EINVAL)?;
        let room = if self.notify_multiplier >= 4 { 4 } else { 2 };
        if offset
            .checked_add(room)
            .is_none_or(|end| end > self.notify.len)
        {
            return Err(EINVAL);
        }
        // What userspace may map: the multiplier's worth of the region (a
        // page with `page-per-vq`), but never past its end, where the BAR
        // may hold other registers.
        let mult = self.notify_multiplier as usize;
        let size = if mult > room && offset + mult <= self.notify.len {
            mult
        } else {
            room
        };
        Ok(Doorbell {
            offset,
            phys: self.notify_phys + offset as u64,
            size,
        })
    }

    /// Rings a doorbell with the queue index.
    pub(crate) fn kick(&self, d: Doorbell, q: u16) -> Result {
        self.at(self.notify, d.offset, 2, |b, o| b.try_write16(q, o))
    }

    /// Rings a doorbell with notification data (`VIRTIO_F_NOTIFICATION_DATA`).
    pub(crate) fn kick_with_data(&self, d: Doorbell, data: u32) -> Result {
        self.at(self.notify, d.offset, 4, |b, o| b.try_write32(data, o))
    }

    /// The size of the device config region.
    pub(crate) fn config_len(&self) -> usize {
        self.device.map_or(0, |r| r.len)
    }

    /// Reads device config bytes; retried until the generation is stable
    /// (4.1.4.3.1), so a multi-byte field is never torn.
    pub(crate) fn read_config(&self, off: usize, buf: &mut [u8]) -> Result {
        let r = self.device.ok_or(EINVAL)?;
        for _ in 0..16 {
            let before = self.generation()?;
            for (i, b) in buf.iter_mut().enumerate() {
                *b = self.at(r, off + i, 1, |bar, o| bar.try_read8(o))?;
            }
            if self.generation()? == before {
                return Ok(());
            }
        }
        Err(EAGAIN)
    }

    /// Writes device config bytes.
    pub(crate) fn write_config(&self, off: usize, buf: &[u8]) -> Result {
        let r = self.device.ok_or(EINVAL)?;
        for (i, b) in buf.iter().enumerate() {
            self.at(r, off + i, 1, |bar, o| bar.try_write8(*b, o))?;
        }
        Ok(())
    }
}
