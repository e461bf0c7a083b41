//! A generated fleet: three domains, 50 users, 30 phones (some with two lines, some with busy-lamp keys),
//! written in the canonical form `crossbar export` produces, but with clear passwords.

use provisioning::Ha1;

pub(crate) const DOMAINS: [&str; 3] = [
    "acme.example.com",
    "globex.example.com",
    "initech.example.com",
];
const MODELS: [&str; 6] = [
    "cisco-7960",
    "cisco-7965",
    "avaya-1140e",
    "nortel-i2004",
    "cisco-7975",
    "avaya-1230",
];
const FIRST: [&str; 10] = [
    "Alice", "Bob", "Chen", "Dana", "Eve", "Frank", "Grace", "Hé", "Iñès", "Jon",
];
const LAST: [&str; 10] = [
    "Martin",
    "Dupont",
    "Li",
    "Weiß",
    "Nguyen",
    "O'Brien",
    "Hopper",
    "Łukasz",
    "Smith, Jr.",
    "Doe",
];

pub(crate) struct Row {
    pub(crate) domain: &'static str,
    pub(crate) extension: String,
    pub(crate) password: String,
    fields: [String; 10],
}

impl Row {
    fn render(&self, password: &str) -> String {
        let mut record = vec![self.domain.to_owned(), self.extension.clone()];
        record.extend(self.fields[..3].iter().cloned());
        record.push(password.to_owned());
        record.extend(self.fields[3..].iter().cloned());
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(&record).expect("record");
        String::from_utf8(writer.into_inner().expect("flush")).expect("utf-8")
    }
}

pub(crate) const HEADER: &str = "domain,extension,first_name,last_name,display_name,password,email,department,voicemail,mac,model,line,blf\n";

/// The fleet's rows, sorted as export sorts them.
pub(crate) fn rows() -> Vec<Row> {
    let mut rows = Vec::new();
    let mut phone = 0u32;
    for (d, domain) in DOMAINS.iter().enumerate() {
        let users = if d == 2 { 16 } else { 17 };
        // Phones k = 0..10 carry user k, and users 10..13 as second lines of phones 0..3.
        let mut placement = vec![None; users];
        for k in 0..10 {
            phone += 1;
            let mac = format!("00045a{:06x}", phone);
            let model = MODELS[(phone as usize) % MODELS.len()];
            placement[k] = Some((mac.clone(), model, 1));
            if k < 3 {
                placement[10 + k] = Some((mac, model, 2));
            }
        }
        for (i, place) in placement.into_iter().enumerate() {
            let n = d * 17 + i;
            let extension = format!("{}", 2000 + 100 * d + i);
            let (mac, model, line, blf) = match place {
                Some((mac, model, line)) => {
                    let blf = if i % 4 == 0 && line == 1 {
                        format!(
                            "{};{}",
                            2000 + 100 * d + (i + 1) % users,
                            2000 + 100 * d + (i + 2) % users
                        )
                    } else {
                        String::new()
                    };
                    (mac, model.to_owned(), line.to_string(), blf)
                }
                None => Default::default(),
            };
            rows.push(Row {
                domain,
                extension,
                password: if n % 7 == 3 {
                    String::new()
                } else {
                    format!("pw-{n}-{domain}")
                },
                fields: [
                    FIRST[n % 10].to_owned(),
                    LAST[(n / 10) % 10].to_owned(),
                    if n % 5 == 0 {
                        format!("Desk {n}")
                    } else {
                        String::new()
                    },
                    format!("user{n}@{domain}"),
                    ["Sales", "Support", "R&D", ""][n % 4].to_owned(),
                    if n % 3 == 0 {
                        format!("8{n:03}")
                    } else {
                        String::new()
                    },
                    mac,
                    model,
                    line,
                    blf,
                ],
            });
        }
    }
    rows
}

/// The CSV an operator would import, with clear passwords.
pub(crate) fn csv(rows: &[Row]) -> String {
    let mut out = HEADER.to_owned();
    for row in rows {
        out.push_str(&row.render(&row.password));
    }
    out
}

/// What `crossbar export` must print after importing [`csv`]: the same, with stored hashes for passwords.
pub(crate) fn expected_export(rows: &[Row]) -> String {
    let mut out = HEADER.to_owned();
    for row in rows {
        let password = if row.password.is_empty() {
            String::new()
        } else {
            Ha1::compute(&row.extension, row.domain, &row.password).export_form()
        };
        out.push_str(&row.render(&password));
    }
    out
}
