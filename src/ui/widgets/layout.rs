//! Screen geometry shared by the views: centred overlays, and the "too small" screen drawn
//! instead of a view below the minimum size.

use ratatui::Frame;
use ratatui::layout::{Alignment, Rect};
use ratatui::text::Line;
use ratatui::widgets::Paragraph;

use crate::ui::widgets::format;
use crate::ui::widgets::theme::Theme;

/// The smallest terminal the views are drawn in.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 16;

pub fn too_small(area: Rect) -> bool {
    area.width < MIN_WIDTH || area.height < MIN_HEIGHT
}

/// "terminal too small: need 60x16, have WxH", centred and wrapped to what there is.
pub fn draw_too_small(frame: &mut Frame, area: Rect, theme: Theme) {
    if area.width == 0 || area.height == 0 {
        return;
    }
    let text = format!(
        "terminal too small: need {MIN_WIDTH}x{MIN_HEIGHT}, have {}x{}",
        area.width, area.height
    );
    let width = area.width as usize;
    let mut lines: Vec<Line> = format::wrap(&text, width)
        .into_iter()
        .map(|l| Line::styled(l, theme.warn()))
        .collect();
    lines.extend(
        format::wrap("enlarge the window, or press q to quit", width)
            .into_iter()
            .map(|l| Line::styled(l, theme.dim())),
    );
    lines.truncate(area.height as usize);
    let needed = lines.len() as u16;
    let top = area.y + (area.height - needed) / 2;
    let paragraph = Paragraph::new(lines).alignment(Alignment::Center);
    frame.render_widget(paragraph, Rect::new(area.x, top, area.width, needed));
}

/// A `width` x `height` rectangle centred in `area`, clamped to it.
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect::new(
        area.x + (area.width - width) / 2,
        area.y + (area.height - height) / 2,
        width,
        height,
    )
}
