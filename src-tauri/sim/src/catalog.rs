//! Real-looking books for the simulated library, and the cover images served for them.

use crate::model::{Author, Chapter, Item, Library, SeriesRef};
use crate::state::Db;

/// A book to put in the library.
struct Seed {
    title: &'static str,
    author: &'static str,
    narrator: &'static str,
    series: Option<(&'static str, &'static str)>,
    year: &'static str,
    genre: &'static str,
    duration: f64,
}

const SEEDS: &[Seed] = &[
    Seed {
        title: "Pride and Prejudice",
        author: "Jane Austen",
        narrator: "Rosamund Pike",
        series: None,
        year: "1813",
        genre: "Classics",
        duration: 43_527.314_286,
    },
    Seed {
        title: "The Adventures of Sherlock Holmes",
        author: "Arthur Conan Doyle",
        narrator: "Stephen Fry",
        series: Some(("Sherlock Holmes", "3")),
        year: "1892",
        genre: "Mystery",
        duration: 37_301.622_857,
    },
    Seed {
        title: "Frankenstein",
        author: "Mary Shelley",
        narrator: "Dan Stevens",
        series: None,
        year: "1818",
        genre: "Horror",
        duration: 31_080.045_714,
    },
    Seed {
        title: "The Time Machine",
        author: "H. G. Wells",
        narrator: "Derek Jacobi",
        series: None,
        year: "1895",
        genre: "Science Fiction",
        duration: 12_672.731_429,
    },
    Seed {
        title: "Moby-Dick",
        author: "Herman Melville",
        narrator: "William Hootkins",
        series: None,
        year: "1851",
        genre: "Adventure",
        duration: 76_980.571_429,
    },
    Seed {
        title: "Dracula",
        author: "Bram Stoker",
        narrator: "Alan Cumming",
        series: None,
        year: "1897",
        genre: "Horror",
        duration: 55_643.193_469,
    },
    Seed {
        title: "A Study in Scarlet",
        author: "Arthur Conan Doyle",
        narrator: "Stephen Fry",
        series: Some(("Sherlock Holmes", "1")),
        year: "1887",
        genre: "Mystery",
        duration: 17_162.004_898,
    },
    Seed {
        title: "The Sign of the Four",
        author: "Arthur Conan Doyle",
        narrator: "Stephen Fry",
        series: Some(("Sherlock Holmes", "2")),
        year: "1890",
        genre: "Mystery",
        duration: 16_120.476_735,
    },
    Seed {
        title: "Treasure Island",
        author: "Robert Louis Stevenson",
        narrator: "Alfred Molina",
        series: None,
        year: "1883",
        genre: "Adventure",
        duration: 25_212.888_163,
    },
    Seed {
        title: "The War of the Worlds",
        author: "H. G. Wells",
        narrator: "Jeff Wayne",
        series: None,
        year: "1898",
        genre: "Science Fiction",
        duration: 23_846.243_265,
    },
    Seed {
        title: "Little Women",
        author: "Louisa May Alcott",
        narrator: "Laura Dern",
        series: Some(("Little Women", "1")),
        year: "1868",
        genre: "Classics",
        duration: 68_950.160_544,
    },
    Seed {
        title: "The Picture of Dorian Gray",
        author: "Oscar Wilde",
        narrator: "Russell Tovey",
        series: None,
        year: "1890",
        genre: "Classics",
        duration: 30_366.720_000,
    },
    Seed {
        title: "Great Expectations",
        author: "Charles Dickens",
        narrator: "Michael Page",
        series: None,
        year: "1861",
        genre: "Classics",
        duration: 67_302.312_925,
    },
    Seed {
        title: "The Call of the Wild",
        author: "Jack London",
        narrator: "Jeff Daniels",
        series: None,
        year: "1903",
        genre: "Adventure",
        duration: 11_481.678_367,
    },
    Seed {
        title: "Jane Eyre",
        author: "Charlotte Brontë",
        narrator: "Thandiwe Newton",
        series: None,
        year: "1847",
        genre: "Classics",
        duration: 69_014.517_551,
    },
    Seed {
        title: "Twenty Thousand Leagues Under the Seas",
        author: "Jules Verne",
        narrator: "Kenneth Branagh",
        series: None,
        year: "1870",
        genre: "Science Fiction",
        duration: 46_225.632_653,
    },
];

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn ino() -> String {
    (10_000_000u64 + rand::random::<u64>() % 89_999_999).to_string()
}

/// The initial "Audiobooks" library.
pub(crate) fn default_library(now: i64) -> Library {
    let id = uuid();
    Library {
        id,
        name: "Audiobooks".to_string(),
        folder_id: uuid(),
        folder_path: "/audiobooks".to_string(),
        folder_added_at: now,
        display_order: 1,
        icon: "audiobookshelf".to_string(),
        media_type: "book".to_string(),
        provider: "audible".to_string(),
        last_scan: Some(now),
        created_at: now,
        last_update: now,
    }
}

/// Finds or creates an author row; returns its id and whether it is new.
fn author_id(db: &mut Db, library_id: &str, name: &str, now: i64) -> (String, Option<Author>) {
    if let Some(a) = db
        .authors
        .iter()
        .find(|a| a.library_id == library_id && a.name == name)
    {
        return (a.id.clone(), None);
    }
    let a = Author {
        id: uuid(),
        name: name.to_string(),
        library_id: library_id.to_string(),
        added_at: now,
        updated_at: now,
    };
    db.authors.push(a.clone());
    (a.id.clone(), Some(a))
}

fn chapters(duration: f64) -> Vec<Chapter> {
    let n = ((duration / 3_600.0).ceil() as u32).clamp(3, 40);
    let len = duration / f64::from(n);
    (0..n)
        .map(|i| Chapter {
            id: i,
            start: (f64::from(i) * len * 1000.0).round() / 1000.0,
            end: if i + 1 == n {
                duration
            } else {
                (f64::from(i + 1) * len * 1000.0).round() / 1000.0
            },
            title: format!("Chapter {}", i + 1),
        })
        .collect()
}

/// Adds the `index`-th catalog book (cycling with a volume suffix) to a library; returns the new
/// item and the authors that did not exist yet.
pub(crate) fn add_book(
    db: &mut Db,
    library_id: &str,
    index: usize,
    now: i64,
) -> Option<(Item, Vec<Author>)> {
    let lib = db.libraries.iter().find(|l| l.id == library_id)?.clone();
    let seed = &SEEDS[index % SEEDS.len()];
    let round = index / SEEDS.len();
    let title = if round == 0 {
        seed.title.to_string()
    } else {
        format!("{}, Volume {}", seed.title, round + 1)
    };
    let (author_id, new_author) = author_id(db, library_id, seed.author, now);
    let rel_path = format!("{}/{}", seed.author, title);
    let duration = seed.duration + round as f64 * 1_234.5;
    let birth = now - 86_400_000 * (3 + index as i64);
    let item = Item {
        id: uuid(),
        ino: ino(),
        library_id: library_id.to_string(),
        folder_id: lib.folder_id.clone(),
        path: format!("{}/{rel_path}", lib.folder_path),
        rel_path,
        mtime_ms: birth + 5_000,
        ctime_ms: birth + 5_000,
        birthtime_ms: birth,
        added_at: now,
        updated_at: now,
        is_missing: false,
        last_scan: now,
        media_id: uuid(),
        title,
        subtitle: None,
        authors: vec![(author_id, seed.author.to_string())],
        narrators: vec![seed.narrator.to_string()],
        series: seed
            .series
            .map(|(name, seq)| SeriesRef {
                id: uuid(),
                name: name.to_string(),
                sequence: Some(seq.to_string()),
            })
            .into_iter()
            .collect(),
        genres: vec![seed.genre.to_string()],
        published_year: Some(seed.year.to_string()),
        publisher: Some("Audible Studios".to_string()),
        description: Some(format!("{} by {}, unabridged.", seed.title, seed.author)),
        isbn: None,
        asin: None,
        language: Some("English".to_string()),
        explicit: false,
        abridged: false,
        duration,
        audio_size: (duration * 8_000.0) as u64,
        audio_ino: ino(),
        cover_ino: ino(),
        cover_size: 0,
        bit_rate: 64_000,
        chapters: chapters(duration),
    };
    let mut item = item;
    item.cover_size = cover_png(&item.id).len() as u64;
    db.items.push(item.clone());
    Some((item, new_author.into_iter().collect()))
}

// ---- cover image: a small, real PNG (stored deflate blocks, so no compressor is needed) ----

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &d in data {
        a = (a + u32::from(d)) % 65_521;
        b = (b + a) % 65_521;
    }
    (b << 16) | a
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32(&body).to_be_bytes());
}

/// A 96x96 RGB PNG whose colours are derived from the item id (same id, same picture).
pub(crate) fn cover_png(item_id: &str) -> Vec<u8> {
    const SIZE: u32 = 96;
    let seed = item_id
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    let base = [
        (seed & 0xFF) as u8,
        ((seed >> 8) & 0xFF) as u8,
        ((seed >> 16) & 0xFF) as u8,
    ];
    let mut raw = Vec::with_capacity(((SIZE * 3 + 1) * SIZE) as usize);
    for y in 0..SIZE {
        raw.push(0); // filter: none
        for x in 0..SIZE {
            let band = if (y / 12) % 2 == 0 { 40 } else { 0 };
            for (c, b) in base.iter().enumerate() {
                let grad = ((x + y) * 80 / (2 * SIZE)) as u8;
                raw.push(
                    b.wrapping_add(grad)
                        .wrapping_add(band)
                        .wrapping_add(c as u8 * 20),
                );
            }
        }
    }
    let mut zlib = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        zlib.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        zlib.extend_from_slice(&len.to_le_bytes());
        zlib.extend_from_slice(&(!len).to_le_bytes());
        zlib.extend_from_slice(block);
    }
    zlib.extend_from_slice(&adler32(&raw).to_be_bytes());

    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&SIZE.to_be_bytes());
    ihdr.extend_from_slice(&SIZE.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(&mut png, b"IDAT", &zlib);
    chunk(&mut png, b"IEND", &[]);
    png
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_reference() {
        assert_eq!(crc32(b"IEND"), 0xAE42_6082);
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
    }

    #[test]
    fn cover_is_a_png() {
        let png = cover_png("abc");
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert!(png.ends_with(&[0xAE, 0x42, 0x60, 0x82]));
        assert_eq!(png, cover_png("abc"));
    }

    #[test]
    fn books_get_chapters_and_authors() {
        let mut db = Db::default();
        let lib = default_library(1_000);
        let lib_id = lib.id.clone();
        db.libraries.push(lib);
        let (a, new_a) = add_book(&mut db, &lib_id, 1, 1_000).unwrap();
        let (_, new_b) = add_book(&mut db, &lib_id, 6, 1_000).unwrap();
        assert_eq!(new_a.len(), 1);
        assert!(new_b.is_empty(), "same author again");
        assert!(a.chapters.len() >= 3);
        assert_eq!(a.chapters.last().map(|c| c.end), Some(a.duration));
    }
}
