export const metadata = { title: 'A provider app on Next.js, beside glp-sidecar' };

export default function RootLayout({ children }) {
  return (
    <html lang="en">
      <body>{children}</body>
    </html>
  );
}
