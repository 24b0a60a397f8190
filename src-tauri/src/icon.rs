//! The tray icon, drawn at run time as RGBA pixels: a bar filled bottom-up with the busiest
//! GPU's utilization, a thin second bar with the VRAM in use, a grey empty frame when there is
//! no GPU, and an amber frame when a budget passed a soft threshold or a provider is down.
//!
//! `IconSpec` is the picture quantized to whole pixel rows: the tray redraws only when the
//! spec changes, so a GPU hovering between 41% and 42% costs nothing (no flicker, no work).
//! Owns the picture; must not know where the numbers come from.

use crate::snapshot::{Gpu, Health, Snapshot};

/// Width and height in pixels (panels scale it; 32 is crisp at 16, 22 and 24).
pub const SIZE: u32 = 32;

/// The utilization bar's inside: columns [UTIL_X0, UTIL_X1), rows [TOP, BOTTOM).
pub const UTIL_X0: u32 = 5;
pub const UTIL_X1: u32 = 20;
/// The VRAM bar's inside: columns [VRAM_X0, VRAM_X1).
pub const VRAM_X0: u32 = 24;
pub const VRAM_X1: u32 = 28;
pub const TOP: u32 = 4;
pub const BOTTOM: u32 = 28;
/// Rows a bar can fill.
pub const ROWS: u32 = BOTTOM - TOP;

pub type Rgba = [u8; 4];
pub const OUTLINE: Rgba = [32, 32, 32, 255];
pub const FRAME: Rgba = [224, 224, 224, 255];
pub const FRAME_NO_GPU: Rgba = [140, 140, 140, 255];
pub const FRAME_WARNING: Rgba = [255, 166, 0, 255];
pub const EMPTY: Rgba = [0, 0, 0, 96];
pub const UTIL: Rgba = [60, 200, 100, 255];
pub const UTIL_HIGH: Rgba = [235, 70, 60, 255];
pub const VRAM: Rgba = [80, 150, 255, 255];
/// From this utilization on, the bar is red.
const HIGH_PCT: u32 = 85;

/// The picture, quantized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IconSpec {
    /// None: no GPU (grey frame, nothing filled).
    pub gpu: Option<Levels>,
    pub warning: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Levels {
    /// Rows of the utilization bar filled (0..=ROWS).
    pub util_rows: u32,
    pub high: bool,
    /// Rows of the VRAM bar filled (0..=ROWS).
    pub vram_rows: u32,
}

impl IconSpec {
    pub fn new(util_pct: Option<u32>, vram_fraction: Option<f64>, warning: bool) -> IconSpec {
        let gpu = util_pct.map(|u| {
            let u = u.min(100);
            Levels {
                util_rows: (u * ROWS + 50) / 100,
                high: u >= HIGH_PCT,
                vram_rows: vram_fraction
                    .map(|f| (f.clamp(0.0, 1.0) * f64::from(ROWS)).round() as u32)
                    .unwrap_or(0),
            }
        });
        IconSpec { gpu, warning }
    }

    /// What the snapshot shows (None: not connected yet, drawn as no GPU).
    pub fn of(s: Option<&Snapshot>) -> IconSpec {
        let Some(s) = s else {
            return IconSpec::new(None, None, false);
        };
        let warning = s.budget_warning || s.count(Health::Down) > 0;
        match s.gpu {
            Gpu::Some {
                utilization_pct,
                memory_used_bytes,
                memory_total_bytes,
                ..
            } => {
                let vram = (memory_total_bytes > 0)
                    .then(|| memory_used_bytes as f64 / memory_total_bytes as f64);
                IconSpec::new(Some(utilization_pct), vram, warning)
            }
            Gpu::Starting | Gpu::None(_) => IconSpec::new(None, None, warning),
        }
    }
}

/// The icon's pixels: SIZE × SIZE RGBA, row-major.
pub fn render(spec: &IconSpec) -> Vec<u8> {
    let mut px = vec![0u8; (SIZE * SIZE * 4) as usize];
    let frame = match (spec.warning, spec.gpu.is_some()) {
        (true, _) => FRAME_WARNING,
        (false, true) => FRAME,
        (false, false) => FRAME_NO_GPU,
    };
    bar(&mut px, UTIL_X0, UTIL_X1, frame);
    bar(&mut px, VRAM_X0, VRAM_X1, frame);
    match spec.gpu {
        Some(l) => {
            let util = if l.high { UTIL_HIGH } else { UTIL };
            fill(&mut px, UTIL_X0, UTIL_X1, l.util_rows, util);
            fill(&mut px, VRAM_X0, VRAM_X1, l.vram_rows, VRAM);
        }
        None => {
            // A dash across the empty bar: "nothing to show", not "0%".
            let y = TOP + ROWS / 2;
            for x in UTIL_X0 + 3..UTIL_X1 - 3 {
                put(&mut px, x, y, FRAME_NO_GPU);
                put(&mut px, x, y + 1, FRAME_NO_GPU);
            }
        }
    }
    px
}

/// An empty bar with a 2-pixel frame (light inside, dark outside so it reads on any panel).
fn bar(px: &mut [u8], x0: u32, x1: u32, frame: Rgba) {
    for y in TOP - 2..BOTTOM + 2 {
        for x in x0 - 2..x1 + 2 {
            let outer = y == TOP - 2 || y == BOTTOM + 1 || x == x0 - 2 || x == x1 + 1;
            let inside = (TOP..BOTTOM).contains(&y) && (x0..x1).contains(&x);
            let c = if inside {
                EMPTY
            } else if outer {
                OUTLINE
            } else {
                frame
            };
            put(px, x, y, c);
        }
    }
}

fn fill(px: &mut [u8], x0: u32, x1: u32, rows: u32, c: Rgba) {
    for y in BOTTOM - rows.min(ROWS)..BOTTOM {
        for x in x0..x1 {
            put(px, x, y, c);
        }
    }
}

fn put(px: &mut [u8], x: u32, y: u32, c: Rgba) {
    if x < SIZE && y < SIZE {
        let i = ((y * SIZE + x) * 4) as usize;
        px[i..i + 4].copy_from_slice(&c);
    }
}

/// The pixel at (x, y) (for tests and the e2e's expectations).
pub fn pixel(px: &[u8], x: u32, y: u32) -> Rgba {
    let i = ((y * SIZE + x) * 4) as usize;
    [px[i], px[i + 1], px[i + 2], px[i + 3]]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled_rows(px: &[u8], x: u32, c: Rgba) -> u32 {
        (TOP..BOTTOM).filter(|y| pixel(px, x, *y) == c).count() as u32
    }

    #[test]
    fn the_bar_fills_with_load() {
        let low = render(&IconSpec::new(Some(10), Some(0.5), false));
        let high = render(&IconSpec::new(Some(90), Some(0.5), false));
        let mid = (UTIL_X0 + UTIL_X1) / 2;
        assert_eq!(filled_rows(&low, mid, UTIL), 2);
        assert_eq!(
            filled_rows(&high, mid, UTIL_HIGH),
            22,
            "90% of 24 rows, red"
        );
        assert_ne!(low, high);
        // Filled from the bottom up.
        assert_eq!(pixel(&low, mid, BOTTOM - 1), UTIL);
        assert_eq!(pixel(&low, mid, TOP), EMPTY);
    }

    #[test]
    fn vram_is_a_second_mark() {
        let a = render(&IconSpec::new(Some(50), Some(0.25), false));
        let b = render(&IconSpec::new(Some(50), Some(0.75), false));
        let x = (VRAM_X0 + VRAM_X1) / 2;
        assert_eq!(filled_rows(&a, x, VRAM), 6);
        assert_eq!(filled_rows(&b, x, VRAM), 18);
        let mid = (UTIL_X0 + UTIL_X1) / 2;
        assert_eq!(filled_rows(&a, mid, UTIL), filled_rows(&b, mid, UTIL));
    }

    #[test]
    fn grey_without_a_gpu() {
        let px = render(&IconSpec::new(None, None, false));
        let mid = (UTIL_X0 + UTIL_X1) / 2;
        assert_eq!(pixel(&px, UTIL_X0 - 1, TOP), FRAME_NO_GPU);
        assert_eq!(filled_rows(&px, mid, UTIL), 0);
        assert_eq!(pixel(&px, mid, TOP + ROWS / 2), FRAME_NO_GPU, "the dash");
        let gpu = render(&IconSpec::new(Some(0), Some(0.0), false));
        assert_eq!(pixel(&gpu, UTIL_X0 - 1, TOP), FRAME);
    }

    #[test]
    fn warnings_tint_the_frame() {
        let calm = render(&IconSpec::new(Some(30), None, false));
        let warn = render(&IconSpec::new(Some(30), None, true));
        assert_eq!(pixel(&warn, UTIL_X0 - 1, TOP), FRAME_WARNING);
        assert_eq!(pixel(&warn, VRAM_X1, BOTTOM - 1), FRAME_WARNING);
        assert_eq!(pixel(&calm, UTIL_X0 - 1, TOP), FRAME);
        let grey_warn = render(&IconSpec::new(None, None, true));
        assert_eq!(pixel(&grey_warn, UTIL_X0 - 1, TOP), FRAME_WARNING);
    }

    #[test]
    fn small_changes_keep_the_same_picture() {
        assert_eq!(
            IconSpec::new(Some(41), Some(0.50), false),
            IconSpec::new(Some(42), Some(0.51), false)
        );
        assert_ne!(
            IconSpec::new(Some(40), None, false),
            IconSpec::new(Some(60), None, false)
        );
    }

    #[test]
    fn the_snapshot_decides_the_picture() {
        let mut s = crate::snapshot::tests::snapshot();
        let spec = IconSpec::of(Some(&s));
        assert!(spec.warning, "openai is down in the sample");
        assert_eq!(spec.gpu.map(|l| l.util_rows), Some(10), "42% of 24");
        assert_eq!(spec.gpu.map(|l| l.vram_rows), Some(6), "6 of 24 GiB");
        s.providers.retain(|p| p.health != Health::Down);
        assert!(!IconSpec::of(Some(&s)).warning);
        s.budget_warning = true;
        assert!(IconSpec::of(Some(&s)).warning);
        s.gpu = Gpu::None("no driver".into());
        assert_eq!(IconSpec::of(Some(&s)).gpu, None);
        assert_eq!(IconSpec::of(None), IconSpec::new(None, None, false));
    }

    #[test]
    fn every_pixel_is_written_inside_the_canvas() {
        let px = render(&IconSpec::new(Some(100), Some(1.0), true));
        assert_eq!(px.len(), (SIZE * SIZE * 4) as usize);
    }
}
