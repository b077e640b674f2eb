export default function Confirmation() {
  return <h1 id="confirmed">Thank you for signing up.</h1>;
}
