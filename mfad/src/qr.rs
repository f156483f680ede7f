//! A QR code as text for an 80-column terminal: two modules per character
//! cell, light modules drawn as blocks so it reads correctly on the usual
//! dark terminal background.

use qrcode::render::unicode::Dense1x2;
use qrcode::QrCode;

pub fn render(data: &str) -> Option<String> {
    let code = QrCode::new(data.as_bytes()).ok()?;
    Some(
        code.render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn typical_uri_fits_80_columns() {
        let uri = "otpauth://totp/pam_mfa:a-rather-long-student-name%40lab-machine-042.physics.example.edu\
                   ?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=pam_mfa&algorithm=SHA1&digits=6&period=30";
        let qr = super::render(uri).unwrap_or_default();
        assert!(!qr.is_empty());
        let widest = qr.lines().map(|l| l.chars().count()).max().unwrap_or(0);
        assert!(widest <= 80, "QR is {widest} columns wide");
    }

    #[test]
    fn an_ntfy_subscription_link_fits_an_80_by_24_terminal() {
        let link = "https://ntfy.physics.example.edu/mfa-Qx3_9vZ-kLmN0pRsTuVwXyZa";
        let qr = super::render(link).unwrap_or_default();
        let widest = qr.lines().map(|l| l.chars().count()).max().unwrap_or(0);
        let rows = qr.lines().count();
        assert!(
            rows > 10 && widest <= 80 && rows <= 23,
            "QR is {widest}x{rows}"
        );
    }
}
