//! The tray icon and its native menu: renders a `MenuModel` into Tauri menu items, and later
//! models into the same items in place when only texts and check marks changed (the menu is
//! rebuilt only when its shape changed: an alias, a loaded model or a down provider came or
//! went). Sets the runtime-drawn icon and the tooltip.
//!
//! Owns the native objects; must not decide what they say (`menu`) or how the icon looks
//! (`icon`). Call from the main thread.

use std::collections::HashMap;

use tauri::image::Image;
use tauri::menu::{CheckMenuItem, IsMenuItem, Menu, MenuItem, PredefinedMenuItem, Submenu};
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{AppHandle, Wry};

use crate::icon::{self, IconSpec};
use crate::menu::{Entry, MenuModel};

pub const TRAY_ID: &str = "lodestar";

enum Handle {
    Item(MenuItem<Wry>),
    Check(CheckMenuItem<Wry>),
    Sub(Submenu<Wry>),
}

/// The menu on screen and the native items behind each id.
pub struct Rendered {
    model: MenuModel,
    items: HashMap<String, Handle>,
}

/// One native item for `e` (its children appended for a submenu).
fn native(
    app: &AppHandle,
    e: &Entry,
    items: &mut HashMap<String, Handle>,
) -> tauri::Result<Box<dyn IsMenuItem<Wry>>> {
    Ok(match e {
        Entry::Separator => Box::new(PredefinedMenuItem::separator(app)?),
        Entry::Info { id, text } => {
            let i = MenuItem::with_id(app, id.as_str(), text, false, None::<&str>)?;
            items.insert(id.clone(), Handle::Item(i.clone()));
            Box::new(i)
        }
        Entry::Item { action, text } => {
            let id = action.id();
            let i = MenuItem::with_id(app, id.as_str(), text, true, None::<&str>)?;
            items.insert(id, Handle::Item(i.clone()));
            Box::new(i)
        }
        Entry::Check {
            action,
            text,
            checked,
        } => {
            let id = action.id();
            let c = CheckMenuItem::with_id(app, id.as_str(), text, true, *checked, None::<&str>)?;
            items.insert(id, Handle::Check(c.clone()));
            Box::new(c)
        }
        Entry::Submenu { id, text, entries } => {
            let s = Submenu::with_id(app, id.as_str(), text, true)?;
            for child in entries {
                let n = native(app, child, items)?;
                s.append(n.as_ref())?;
            }
            items.insert(id.clone(), Handle::Sub(s.clone()));
            Box::new(s)
        }
    })
}

fn build_menu(app: &AppHandle, model: &MenuModel) -> tauri::Result<(Menu<Wry>, Rendered)> {
    let menu = Menu::new(app)?;
    let mut items = HashMap::new();
    for e in &model.entries {
        let n = native(app, e, &mut items)?;
        menu.append(n.as_ref())?;
    }
    Ok((
        menu,
        Rendered {
            model: model.clone(),
            items,
        },
    ))
}

/// Create the tray icon with its first menu.
pub fn create(
    app: &AppHandle,
    model: &MenuModel,
    spec: &IconSpec,
    on_menu: impl Fn(&AppHandle, String) + Send + Sync + 'static,
) -> tauri::Result<(TrayIcon<Wry>, Rendered)> {
    let (menu, rendered) = build_menu(app, model)?;
    let tray = TrayIconBuilder::with_id(TRAY_ID)
        .icon(image(spec))
        .tooltip("Lodestar")
        .menu(&menu)
        .show_menu_on_left_click(true)
        .on_menu_event(move |app, ev| on_menu(app, ev.id().as_ref().to_string()))
        .build(app)?;
    Ok((tray, rendered))
}

fn image(spec: &IconSpec) -> Image<'static> {
    Image::new_owned(icon::render(spec), icon::SIZE, icon::SIZE)
}

/// Show `spec` as the tray icon.
pub fn set_icon(tray: &TrayIcon<Wry>, spec: &IconSpec) -> tauri::Result<()> {
    tray.set_icon(Some(image(spec)))
}

impl Rendered {
    pub fn model(&self) -> &MenuModel {
        &self.model
    }

    /// Show `next`: in place when the shape is the same, else a new menu. `force_checks` sets
    /// every check mark even where the model did not change (GTK flips a check item's mark on
    /// click before the app decides; an alias clicked twice must stay checked).
    pub fn show(
        &mut self,
        app: &AppHandle,
        tray: &TrayIcon<Wry>,
        next: &MenuModel,
        force_checks: bool,
    ) -> tauri::Result<()> {
        if next.shape() != self.model.shape() {
            let (menu, rendered) = build_menu(app, next)?;
            tray.set_menu(Some(menu))?;
            *self = rendered;
            return Ok(());
        }
        let before: HashMap<String, &Entry> = self
            .model
            .flat()
            .into_iter()
            .filter_map(|e| e.id().map(|id| (id, e)))
            .collect();
        for e in next.flat() {
            let Some(id) = e.id() else { continue };
            let changed = before.get(&id).is_none_or(|b| *b != e);
            match (e, self.items.get(&id)) {
                (Entry::Info { text, .. } | Entry::Item { text, .. }, Some(Handle::Item(i)))
                    if changed =>
                {
                    i.set_text(text)?;
                }
                (Entry::Check { text, checked, .. }, Some(Handle::Check(c))) => {
                    if changed {
                        c.set_text(text)?;
                    }
                    if changed || force_checks {
                        c.set_checked(*checked)?;
                    }
                }
                (Entry::Submenu { text, .. }, Some(Handle::Sub(s))) if changed => {
                    s.set_text(text)?;
                }
                _ => {}
            }
        }
        self.model = next.clone();
        Ok(())
    }
}
