//! The state of a list read from the store a page at a time (the sync report's entries, a
//! connection's contracts): the cursor, the first row on screen, the page of rows read around
//! them, where the list ends, how many it holds, and the error of the last read. The views
//! decide what a page is and read it in their update step; this keeps the positions straight.

/// A list shown a screen at a time and read a page at a time.
#[derive(Debug)]
pub struct PagedList<T> {
    /// The page read: positions `offset..offset + rows.len()` of the list.
    rows: Vec<T>,
    offset: usize,
    /// A page was read since the list was last forgotten.
    loaded: bool,
    /// Where the list ends, once known (a count, or a short page).
    end: Option<usize>,
    /// How many the list holds, as last counted; kept while a page is read again.
    total: Option<u64>,
    cursor: usize,
    /// The first row on screen.
    top: usize,
    /// Rows of the last drawn screen, for page moves.
    height: usize,
    /// Why the last read failed, shown in place of the rows.
    error: Option<String>,
}

impl<T> Default for PagedList<T> {
    fn default() -> Self {
        PagedList {
            rows: Vec::new(),
            offset: 0,
            loaded: false,
            end: None,
            total: None,
            cursor: 0,
            top: 0,
            height: 0,
            error: None,
        }
    }
}

impl<T> PagedList<T> {
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    pub fn top(&self) -> usize {
        self.top
    }

    /// Rows a page move goes: the last drawn height.
    pub fn page(&self) -> usize {
        self.height.max(1)
    }

    /// The last drawn height (0 before the first frame).
    pub fn height(&self) -> usize {
        self.height
    }

    pub fn total(&self) -> Option<u64> {
        self.total
    }

    pub fn end(&self) -> Option<usize> {
        self.end
    }

    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// A read failed: said in place of the rows until the next read.
    pub fn fail(&mut self, error: String) {
        self.error = Some(error);
    }

    /// The row read at a position, if its page is read.
    pub fn row(&self, index: usize) -> Option<&T> {
        index
            .checked_sub(self.offset)
            .and_then(|i| self.rows.get(i))
    }

    /// The row under the cursor, if its page is read.
    pub fn current(&self) -> Option<&T> {
        self.row(self.cursor)
    }

    /// The rows read from `top`, as many as `height` (fewer at the end of the page).
    pub fn visible(&self, height: usize) -> impl Iterator<Item = &T> {
        (self.top..self.top + height).map_while(|i| self.row(i))
    }

    /// The rows read so far, in order.
    pub fn rows(&self) -> &[T] {
        &self.rows
    }

    /// Rows the cursor can reach: the end, the count, or (neither known) anything before the
    /// first read and one past what is read after it, so moving down reads the next page.
    fn reach(&self) -> usize {
        match (self.end, self.total) {
            (Some(end), _) => end,
            (None, Some(n)) => n as usize,
            (None, None) if !self.loaded => usize::MAX,
            (None, None) => self.offset + self.rows.len() + 1,
        }
    }

    fn clamp(&mut self) {
        self.cursor = self.cursor.min(self.reach().saturating_sub(1));
    }

    pub fn move_by(&mut self, delta: isize) {
        self.cursor = self.cursor.saturating_add_signed(delta);
        self.clamp();
    }

    pub fn first(&mut self) {
        self.cursor = 0;
    }

    pub fn last(&mut self) {
        self.cursor = self.reach().saturating_sub(1);
    }

    /// The count came: the list ends there.
    pub fn set_total(&mut self, total: u64) {
        self.total = Some(total);
        self.end = Some(total as usize);
        self.clamp();
    }

    /// Forgets the count (a new query: counted again).
    pub fn forget_total(&mut self) {
        self.total = None;
    }

    /// The end is known from a short page.
    pub fn set_end(&mut self, end: usize) {
        self.end = Some(end);
    }

    /// Back to the first row (the query changed).
    pub fn restart(&mut self) {
        self.cursor = 0;
        self.top = 0;
    }

    /// Puts the cursor and the first row on screen where the caller says (a read past the
    /// end came back short).
    pub fn place(&mut self, cursor: usize, top: usize) {
        self.cursor = cursor;
        self.top = top;
    }

    /// Forgets the page read (the store changed); the count stays until a new one comes.
    pub fn forget(&mut self) {
        self.rows.clear();
        self.loaded = false;
        self.end = None;
        self.error = None;
    }

    /// A frame shows `height` rows: moves the first row so that the cursor shows.
    pub fn follow_cursor(&mut self, height: usize) {
        self.height = height;
        if self.cursor < self.top {
            self.top = self.cursor;
        }
        if self.cursor >= self.top + height {
            self.top = self.cursor + 1 - height;
        }
    }

    /// True when the rows `start..start + count` are read (as far as the list goes).
    pub fn covers(&self, start: usize, count: usize) -> bool {
        let have = self.offset..self.offset + self.rows.len();
        let known_end = self.end.unwrap_or(usize::MAX);
        self.loaded && have.start <= start && (start + count <= have.end || have.end >= known_end)
    }

    /// A page read: `rows` from position `offset`.
    pub fn fill(&mut self, offset: usize, rows: Vec<T>) {
        self.rows = rows;
        self.offset = offset;
        self.loaded = true;
        self.error = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cursor_stays_within_what_is_known() {
        let mut list: PagedList<u32> = PagedList::default();
        // Nothing read: a move is kept for the first read to clamp.
        list.move_by(5);
        assert_eq!(list.cursor(), 5);
        list.fill(0, vec![0, 1, 2]);
        list.set_total(3);
        assert_eq!(list.cursor(), 2);
        list.last();
        assert_eq!(list.current(), Some(&2));
        list.first();
        list.move_by(-1);
        assert_eq!(list.cursor(), 0);
    }

    #[test]
    fn a_page_covers_the_screen_or_reaches_the_end() {
        let mut list: PagedList<u32> = PagedList::default();
        assert!(!list.covers(0, 2));
        list.fill(10, (10..20).collect());
        assert!(list.covers(10, 10));
        assert!(!list.covers(15, 10));
        list.set_end(20);
        assert!(list.covers(15, 10));
        assert!(!list.covers(5, 2));
        list.forget();
        assert!(!list.covers(10, 1));
    }

    #[test]
    fn the_first_row_follows_the_cursor() {
        let mut list: PagedList<u32> = PagedList::default();
        list.fill(0, (0..100).collect());
        list.set_total(100);
        list.move_by(30);
        list.follow_cursor(10);
        assert_eq!(list.top(), 21);
        assert_eq!(list.visible(10).count(), 10);
        list.move_by(-25);
        list.follow_cursor(10);
        assert_eq!(list.top(), 5);
        assert_eq!(list.page(), 10);
    }
}
