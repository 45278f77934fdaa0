use serde::{Deserialize, Serialize};

/// The largest page a caller may ask for.
pub const MAX_PAGE_SIZE: u32 = 200;
const DEFAULT_PAGE_SIZE: u32 = 50;

/// Which slice of a collection to return. Pages are 1-based; collections are ordered by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageRequest {
    pub page: u32,
    pub page_size: u32,
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            page: 1,
            page_size: DEFAULT_PAGE_SIZE,
        }
    }
}

impl PageRequest {
    /// A validated page request; the messages name the query parameter.
    pub fn new(page: u32, page_size: u32) -> crate::Result<Self> {
        let mut errors = crate::FieldErrors::new();
        if page == 0 {
            errors.add("page", "must be 1 or more");
        }
        if page_size == 0 || page_size > MAX_PAGE_SIZE {
            errors.add(
                "page_size",
                format!("must be between 1 and {MAX_PAGE_SIZE}"),
            );
        }
        errors.into_result()?;
        Ok(Self { page, page_size })
    }

    /// Everything up to the maximum page size, for small catalogues.
    pub fn first(page_size: u32) -> Self {
        Self {
            page: 1,
            page_size: page_size.clamp(1, MAX_PAGE_SIZE),
        }
    }

    pub fn with_page(mut self, page: u32) -> Self {
        self.page = page.max(1);
        self
    }

    pub fn with_page_size(mut self, page_size: u32) -> Self {
        self.page_size = page_size.clamp(1, MAX_PAGE_SIZE);
        self
    }

    /// Rows to skip.
    pub fn offset(&self) -> u64 {
        u64::from(self.page.saturating_sub(1)) * u64::from(self.page_size)
    }

    pub fn limit(&self) -> u64 {
        u64::from(self.page_size)
    }
}

/// One page of a collection plus the total number of rows in the whole collection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub count: u64,
    pub items: Vec<T>,
}

impl<T> Page<T> {
    /// Whether a page after `request` exists.
    pub fn has_next(&self, request: PageRequest) -> bool {
        request.offset() + (self.items.len() as u64) < self.count
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            count: self.count,
            items: self.items.into_iter().map(f).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_parameter() {
        let err = PageRequest::new(0, 500).unwrap_err().to_string();
        assert!(err.contains("page: must be 1 or more"), "{err}");
        assert!(
            err.contains("page_size: must be between 1 and 200"),
            "{err}"
        );
        assert_eq!(PageRequest::new(3, 20).unwrap().offset(), 40);
    }

    #[test]
    fn has_next_counts_rows_before_this_page() {
        let page = Page {
            count: 45,
            items: vec![(); 20],
        };
        assert!(page.has_next(PageRequest::new(2, 20).unwrap()));
        let last = Page {
            count: 45,
            items: vec![(); 5],
        };
        assert!(!last.has_next(PageRequest::new(3, 20).unwrap()));
    }
}
