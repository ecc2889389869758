import type { NextConfig } from 'next'

const nextConfig: NextConfig = {
  // Load the package with Node's own require at run time instead of bundling it:
  // webpack cannot parse the native `.node` file, and Turbopack must not rewrite its loader.
  serverExternalPackages: ['@smashcourts/partner-sync'],
}

export default nextConfig
